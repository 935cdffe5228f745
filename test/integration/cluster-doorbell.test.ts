/**
 * The doorbell rules with two nodes in one process (in-memory bus, one SQLite file, fast timings):
 * a lost doorbell is made good by the heartbeat gap check while the bus is up, doorbells that
 * arrive out of order still reach the client in seq order, and the login throttle and the
 * per-user session cap count across nodes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SecureChatError } from '../../src/errors.js';
import { MemoryBackend, MemoryStore } from '../../src/server/cluster/memory.js';
import type { BusMessage } from '../../src/server/cluster/types.js';
import { makeTestPki, startChatServer, TEST_PASSWORD, type TestChatServer, type TestPki } from '../helpers/chat-server.js';
import { pushes, until } from '../helpers/cluster.js';

const TIMINGS = { leaseMs: 1500, presencePollMs: 200, heartbeatMs: 200, catchupMs: 500 };
/** Room for five failed logins on one connection before login (each costs 5 pre-login tokens). */
const LIMITS = {
  maxSessionsPerUser: 2,
  rate: { requestsPerSecond: 50, burst: 200, maxInflightBytes: 8 * 1024 * 1024, preLoginRequestsPerSecond: 50, preLoginBurst: 200 },
};

let pki: TestPki;
let store: MemoryStore;
let a: TestChatServer;
let b: TestChatServer;
let aBackend: MemoryBackend;
/** Decides, per message node A publishes, whether it goes out now (true), is dropped (false) or held (a promise). */
let aFilter: (msg: BusMessage) => boolean | Promise<void> = () => true;

before(async () => {
  pki = await makeTestPki(['alice', 'bob', 'carol']);
  store = new MemoryStore();
  aBackend = new MemoryBackend(store);
  const publish = aBackend.bus.publish.bind(aBackend.bus);
  aBackend.bus.publish = async (topic, msg) => {
    const verdict = aFilter(msg);
    if (verdict === false) return;
    if (verdict !== true) void verdict.then(() => publish(topic, msg));
    else await publish(topic, msg);
  };
  a = await startChatServer({ pki, cluster: { backend: aBackend, nodeId: 'A', timings: TIMINGS }, limits: LIMITS });
  b = await startChatServer({ pki, dbUrl: a.dbUrl, cluster: { backend: new MemoryBackend(store), nodeId: 'B', timings: TIMINGS }, limits: LIMITS });
});
after(async () => {
  await b?.stop();
  await a?.close();
  store?.stop();
});

test('a lost doorbell: the next heartbeat shows the gap and the recipient catches up from the database', async () => {
  const alice = await a.login('alice');
  const bob = await b.login('bob');
  const atBob = pushes<{ text: string }>(bob, 'message');
  // Warm up: the first message of a conversation on a node always goes through catch-up.
  await alice.request('dm', { to: 'bob', text: 'warm-up' });
  await atBob.waitFor((m) => m.text === 'warm-up', 'warm-up');
  let dropped = 0;
  aFilter = (m) => (m.t === 'msg' && dropped++ === 0 ? false : true);
  await alice.request('dm', { to: 'bob', text: 'its doorbell is lost' });
  await atBob.waitFor((m) => m.text === 'its doorbell is lost', 'catch-up after the heartbeat');
  aFilter = () => true;
  await alice.request('dm', { to: 'bob', text: 'rung normally' });
  await atBob.waitFor((m) => m.text === 'rung normally', 'live again');
  assert.deepEqual(atBob.got.map((m) => m.text), ['warm-up', 'its doorbell is lost', 'rung normally'], 'each once, in order');
  alice.close();
  bob.close();
});

test('doorbells overtaken on the bus: the client still gets the messages in seq order', async () => {
  const alice = await a.login('alice');
  const bob = await b.login('bob');
  const atBob = pushes<{ text: string; seq: number }>(bob, 'message');
  await alice.request('dm', { to: 'bob', text: 'before' });
  await atBob.waitFor((m) => m.text === 'before', 'before');
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let first = true;
  aFilter = (m) => {
    if (m.t !== 'msg' || !first) return true;
    first = false;
    return held;
  };
  await alice.request('dm', { to: 'bob', text: 'one' });
  await alice.request('dm', { to: 'bob', text: 'two' });
  await atBob.waitFor((m) => m.text === 'two', 'two (its doorbell came first)');
  release();
  aFilter = () => true;
  await alice.request('dm', { to: 'bob', text: 'three' });
  await atBob.waitFor((m) => m.text === 'three', 'three');
  const texts = atBob.got.map((m) => m.text);
  assert.deepEqual(texts, ['before', 'one', 'two', 'three'], 'never two before one, nothing twice');
  const seqs = atBob.got.map((m) => m.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  alice.close();
  bob.close();
});

test('a gap shown by the recipient\'s own message: the recipient catches up before the next live push', async () => {
  // Found by the cluster soak: a message committed whose doorbell never came (its node was
  // SIGKILLed between commit and publish), then the recipient posts on its own node (seq +2: a gap)
  // and the next message is pushed live — acknowledging past the missing one.
  const alice = await a.login('alice');
  const bob = await b.login('bob');
  const atBob = pushes<{ text: string; seq: number }>(bob, 'message');
  await alice.request('dm', { to: 'bob', text: 'first' });
  await atBob.waitFor((m) => m.text === 'first', 'first');
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let first = true;
  aFilter = (m) => {
    if (m.t !== 'msg' || !first) return true;
    first = false;
    return held;
  };
  await alice.request('dm', { to: 'bob', text: 'its doorbell is late' });
  await bob.request('dm', { to: 'alice', text: 'bob posts meanwhile' });
  await alice.request('dm', { to: 'bob', text: 'rung at once' });
  await atBob.waitFor((m) => m.text === 'rung at once', 'the message after the gap');
  release();
  aFilter = () => true;
  await alice.request('dm', { to: 'bob', text: 'last' });
  await atBob.waitFor((m) => m.text === 'last', 'last');
  assert.deepEqual(atBob.got.map((m) => m.text), ['first', 'its doorbell is late', 'rung at once', 'last'], 'the late one before the next, nothing twice');
  alice.close();
  bob.close();
});

test('a node that falls silent after a commit (doorbell and heartbeats gone): its recipients catch up anyway', async () => {
  // What a SIGKILL between commit and publish looks like from node B: no later number ever comes.
  const alice = await a.login('alice');
  const bob = await b.login('bob');
  const atBob = pushes<{ text: string }>(bob, 'message');
  await alice.request('dm', { to: 'bob', text: 'before the silence' });
  await atBob.waitFor((m) => m.text === 'before the silence', 'before');
  aFilter = (m) => m.t !== 'msg' && m.t !== 'hb';
  try {
    await alice.request('dm', { to: 'bob', text: 'rung into the void' });
    await atBob.waitFor((m) => m.text === 'rung into the void', 'catch-up once node A is silent');
  } finally {
    aFilter = () => true;
  }
  assert.deepEqual(atBob.got.map((m) => m.text), ['before the silence', 'rung into the void']);
  alice.close();
  bob.close();
});

/** Counts node B's reads of single rows (the doorbell's fallback) and of pending pages (catch-up). */
function spyReads(server: TestChatServer) {
  const storage = server.storage;
  const getMessage = storage.getMessage.bind(storage);
  const pendingFor = storage.pendingFor.bind(storage);
  const counts = { rows: 0, pending: 0 };
  storage.getMessage = (id) => {
    counts.rows++;
    return getMessage(id);
  };
  storage.pendingFor = (userId, limit) => {
    counts.pending++;
    return pendingFor(userId, limit);
  };
  return {
    counts,
    restore(): void {
      storage.getMessage = getMessage;
      storage.pendingFor = pendingFor;
    },
  };
}

test('a doorbell that carries a short text is pushed without a database read; a long one and a malformed payload are read', async () => {
  const alice = await a.login('alice');
  const bob = await b.login('bob');
  const atBob = pushes<{ text: string; seq: number; from: string; to: string }>(bob, 'message');
  await alice.request('dm', { to: 'bob', text: 'warm-up' });
  await atBob.waitFor((m) => m.text === 'warm-up', 'warm-up');
  const spy = spyReads(b);
  try {
    await alice.request('dm', { to: 'bob', text: 'carried by its doorbell' });
    const carried = await atBob.waitFor((m) => m.text === 'carried by its doorbell', 'the carried text');
    assert.equal(carried.from, 'alice');
    assert.equal(carried.to, 'bob');
    assert.deepEqual(spy.counts, { rows: 0, pending: 0 }, 'neither the row nor a catch-up page was read');

    const long = 'x'.repeat(8 * 1024 + 1);
    await alice.request('dm', { to: 'bob', text: long });
    await atBob.waitFor((m) => m.text === long, 'the long text');
    assert.deepEqual(spy.counts, { rows: 1, pending: 0 }, 'a body over 8 KiB is read from the database');

    aFilter = (m) => {
      if (m.t === 'msg') m.v = { b: 42 };
      return true;
    };
    await alice.request('dm', { to: 'bob', text: 'its payload is mangled on the bus' });
    await atBob.waitFor((m) => m.text === 'its payload is mangled on the bus', 'the stored text, read back');
    assert.deepEqual(spy.counts, { rows: 2, pending: 0 }, 'a malformed payload falls back to the row');
  } finally {
    aFilter = () => true;
    spy.restore();
  }
  const texts = atBob.got.map((m) => m.text);
  assert.equal(texts.length, 4, 'nothing twice');
  alice.close();
  bob.close();
});

test('a carried doorbell after a gap is not pushed: the recipient catches up from the database, in order', async () => {
  const alice = await a.login('alice');
  const bob = await b.login('bob');
  const atBob = pushes<{ text: string; seq: number }>(bob, 'message');
  await alice.request('dm', { to: 'bob', text: 'gap: before' });
  await atBob.waitFor((m) => m.text === 'gap: before', 'before');
  // Drop one doorbell and hold the heartbeats, so only the next doorbell's seq can show the gap.
  let dropped = 0;
  aFilter = (m) => m.t !== 'hb' && !(m.t === 'msg' && dropped++ === 0);
  const spy = spyReads(b);
  try {
    await alice.request('dm', { to: 'bob', text: 'gap: its doorbell is lost' });
    await alice.request('dm', { to: 'bob', text: 'gap: carried, but after the gap' });
    await atBob.waitFor((m) => m.text === 'gap: carried, but after the gap', 'the message after the gap');
    assert.ok(spy.counts.pending >= 1, 'caught up from the database');
    assert.equal(spy.counts.rows, 0, 'the rung row is not read first: catch-up reads it');
  } finally {
    aFilter = () => true;
    spy.restore();
  }
  await alice.request('dm', { to: 'bob', text: 'gap: live again' });
  await atBob.waitFor((m) => m.text === 'gap: live again', 'live again');
  assert.deepEqual(atBob.got.map((m) => m.text), ['gap: before', 'gap: its doorbell is lost', 'gap: carried, but after the gap', 'gap: live again'], 'each once, in order');
  const seqs = atBob.got.map((m) => m.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  alice.close();
  bob.close();
});

test('failed logins on node A count on node B: the sixth attempt is throttled there', async () => {
  (await a.login('carol')).close();
  const onA = await a.connect('carol');
  for (let i = 0; i < 5; i++) {
    await assert.rejects(onA.request('login', { password: `wrong ${i}` }), (err: SecureChatError) => err.code === 'auth_failed');
  }
  onA.close();
  const onB = await b.connect('carol');
  await assert.rejects(onB.request('login', { password: TEST_PASSWORD }), (err: SecureChatError) => err.code === 'throttled');
  onB.close();
});

test('the per-user session cap counts sessions on the other nodes', async () => {
  const s1 = await a.login('alice');
  const s2 = await a.login('alice');
  await until('node B sees both sessions of alice', async () => b.server.services.cluster?.presence.sessionsElsewhere('alice') === 2);
  await assert.rejects(b.login('alice'), (err: SecureChatError) => err.code === 'busy' && err.reason === 'sessions_per_user');
  s1.close();
  await until('node B sees one session left', async () => b.server.services.cluster?.presence.sessionsElsewhere('alice') === 1);
  const s3 = await b.login('alice');
  s2.close();
  s3.close();
});
