/**
 * ChatClient end to end: a real server on 127.0.0.1 port 0 over SQLite, real clients, real files.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatClient, type ChatEvent, type ChatMessage, type FileEvent } from '../../src/client/chat-client.js';
import { loadClientFiles } from '../../src/client/identity.js';
import { SecureChatError } from '../../src/errors.js';
import { startChatServer, TEST_PASSWORD, userIdentity, type TestChatServer } from '../helpers/chat-server.js';

let srv: TestChatServer;
let work: string;
const open: ChatClient[] = [];

before(async () => {
  // Logout/login cycles on one session spend the pre-login budget on purpose: give it the post-login one.
  srv = await startChatServer({
    chat: { maxFileBytes: 512 * 1024, fileChunkBytes: 64 * 1024 },
    limits: { rate: { requestsPerSecond: 50, burst: 200, maxInflightBytes: 8 << 20, preLoginRequestsPerSecond: 50, preLoginBurst: 200 } },
  });
  work = mkdtempSync(join(tmpdir(), 'sc-chatclient-'));
});

after(async () => {
  for (const c of open) c.close();
  await srv.close();
  rmSync(work, { recursive: true, force: true });
});

const registered = new Set<string>();

async function client(user: string, opts: { autoFetchFiles?: string } = {}): Promise<ChatClient> {
  const chat = await ChatClient.connect({
    host: '127.0.0.1',
    port: srv.port,
    serverName: 'localhost',
    identity: userIdentity(srv.pki, user),
    trust: srv.pki.trust,
    ...opts,
  });
  open.push(chat);
  if (registered.has(user)) await chat.login(TEST_PASSWORD);
  else {
    await chat.register(TEST_PASSWORD);
    registered.add(user);
  }
  return chat;
}

type EventName = 'message' | 'delivered' | 'file' | 'presence' | 'group_event' | 'caught_up';

/** The payload of a ChatEvent, as the old per-type events carried it. */
function payload(ev: ChatEvent): unknown {
  switch (ev.type) {
    case 'message':
      return ev.message;
    case 'file':
      return ev.file;
    case 'delivered':
      return ev.delivered;
    case 'presence':
      return ev.presence;
    case 'group_event':
      return ev.group_event;
    case 'caught_up':
      return { pending: ev.pending };
    case 'file_error':
      return ev;
  }
}

function next(chat: ChatClient, event: EventName, count = 1): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const got: unknown[] = [];
    const stop = chat.consume((ev) => {
      if (ev.type !== event) return;
      got.push(payload(ev));
      if (got.length === count) {
        clearTimeout(timer);
        stop();
        resolve(got);
      }
    });
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`only ${got.length}/${count} "${event}" events`));
    }, 5000);
  });
}

test('DM: the recipient gets it, acks it, and the sender hears "delivered"', async () => {
  const alice = await client('alice');
  const bob = await client('bob');
  assert.equal(alice.user?.username, 'alice');
  const received = next(bob, 'message');
  const delivered = next(alice, 'delivered');
  const sent = await alice.dm('bob', 'hi bob');
  const [msg] = (await received) as ChatMessage[];
  assert.equal(msg.id, sent.id);
  assert.equal(msg.from, 'alice');
  assert.equal(msg.to, 'bob');
  assert.equal(msg.text, 'hi bob');
  const [d] = (await delivered) as { id: number; to: string }[];
  assert.equal(d.id, sent.id);
  assert.equal(d.to, 'bob');
  const users = await alice.who();
  assert.deepEqual(users.map((u) => u.username).sort(), ['alice', 'bob']);
  alice.close();
  bob.close();
});

test('offline messages arrive once, in order; what was acked is not sent again', async () => {
  const alice = await client('alice');
  const carolFirst = await client('carol');
  carolFirst.close();
  const ids: number[] = [];
  for (const text of ['one', 'two', 'three']) ids.push((await alice.dm('carol', text)).id);

  const carol = await ChatClient.connect({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', identity: userIdentity(srv.pki, 'carol'), trust: srv.pki.trust });
  open.push(carol);
  const got = next(carol, 'message', 3);
  await carol.login(TEST_PASSWORD);
  const msgs = (await got) as ChatMessage[];
  assert.deepEqual(msgs.map((m) => m.text), ['one', 'two', 'three']);
  assert.deepEqual(msgs.map((m) => m.id), ids);
  await carol.idle(); // the ack is on the server before we leave
  carol.close();

  const carol2 = await ChatClient.connect({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', identity: userIdentity(srv.pki, 'carol'), trust: srv.pki.trust });
  open.push(carol2);
  const seen: string[] = [];
  carol2.consume((ev) => {
    if (ev.type === 'message') seen.push(ev.message.text);
  });
  await carol2.login(TEST_PASSWORD);
  const fresh = next(carol2, 'message');
  await alice.dm('carol', 'four');
  await fresh;
  assert.deepEqual(seen, ['four']);
  alice.close();
  carol2.close();
});

test('pushes wait in the inbox until consume(); a message is acknowledged only after its handler resolved', async () => {
  const alice = await client('alice');
  const dave = await client('dave');
  const daveId = (await srv.storage.getUserByName('dave'))!.id;
  dave.close();
  const ids: number[] = [];
  for (const text of ['a', 'b', 'c']) ids.push((await alice.dm('dave', text)).id);

  // Log in first and consume later: the order the CLI used to get wrong.
  const late = await ChatClient.connect({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', identity: userIdentity(srv.pki, 'dave'), trust: srv.pki.trust, ackDelayMs: 0 });
  open.push(late);
  await late.login(TEST_PASSWORD);
  await late.idle();
  assert.equal((await srv.storage.pendingFor(daveId, 50)).length, 3, 'nothing is acknowledged before anyone consumed it');

  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const handled: string[] = [];
  let caughtUp: number | undefined;
  late.consume(async (ev) => {
    if (ev.type === 'caught_up') caughtUp = ev.pending;
    if (ev.type !== 'message') return;
    if (ev.message.text === 'a') await gate; // the application is still busy with the first one
    handled.push(ev.message.text);
  });
  // While the handler of "a" has not resolved, nothing is acknowledged, not even "b" or "c".
  await new Promise((r) => setImmediate(r));
  await late.connection.request('who');
  assert.deepEqual(handled, []);
  assert.equal((await srv.storage.pendingFor(daveId, 50)).length, 3);
  release();
  assert.equal(await late.caughtUp(), 3);
  assert.equal(caughtUp, 3, 'caught_up reaches the consumer after the replayed messages');
  await late.idle();
  assert.deepEqual(handled, ['a', 'b', 'c']);
  assert.equal((await srv.storage.pendingFor(daveId, 50)).length, 0, 'all three acknowledged once handled');
  late.close();
  alice.close();
});

test('a handler that throws: no ack for that conversation, a warning instead', async () => {
  const alice = await client('alice');
  const eve = await client('eve');
  const eveId = (await srv.storage.getUserByName('eve'))!.id;
  const warned = new Promise<SecureChatError>((resolve) => eve.once('warning', resolve));
  eve.consume((ev) => {
    if (ev.type === 'message') throw new SecureChatError('io_error', 'display failed');
  });
  await alice.dm('eve', 'lost?');
  assert.equal((await warned).message, 'display failed');
  await eve.idle();
  assert.equal((await srv.storage.pendingFor(eveId, 50)).length, 1, 'the message stays pending on the server');
  eve.close();
  alice.close();
});

test('a push whose type is "close" or "error" is not the connection closing; logout/login cycles do not stack listeners', async () => {
  const bob = await client('bob');
  const bobId = (await srv.storage.getUserByName('bob'))!.id;
  let closed = 0;
  bob.on('close', () => closed++);
  bob.connection.on('close', () => closed++);
  const pushes: string[] = [];
  bob.connection.on('push', (m) => pushes.push(m.type));
  srv.server.services.hub.sendToUser(bobId, { type: 'close', reason: 'fake' });
  srv.server.services.hub.sendToUser(bobId, { type: 'error', code: 'fake' });
  await bob.connection.request('who');
  assert.deepEqual(pushes.filter((t) => t === 'close' || t === 'error'), ['close', 'error']);
  assert.equal(closed, 0);
  assert.equal(bob.closed, false);

  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    for (let i = 0; i < 12; i++) {
      await bob.logout();
      assert.equal(bob.user, null);
      await bob.login(TEST_PASSWORD);
      assert.equal((bob.user as { username: string } | null)?.username, 'bob');
    }
    const session = [...srv.server.sessions].find((s) => s.userId === bobId)!;
    assert.ok(session.listenerCount('close') <= 4, `server session has ${session.listenerCount('close')} close listeners`);
    assert.ok(session.listenerCount('drain') <= 2, `server session has ${session.listenerCount('drain')} drain listeners`);
    assert.ok(bob.listenerCount('close') <= 2 && bob.connection.listenerCount('close') <= 3);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
  }
  bob.close();
});

test('groups: create, add, info, broadcast, history', async () => {
  const alice = await client('alice');
  const bob = await client('bob');
  const group = await alice.groupCreate('team');
  assert.equal(group.name, 'team');
  await alice.groupAdd('team', 'bob');
  const info = await alice.groupInfo('team');
  assert.deepEqual(info.members.map((m) => [m.username, m.role]).sort(), [['alice', 'owner'], ['bob', 'member']]);
  const got = next(bob, 'message');
  const sent = await alice.groupSend('team', 'hello team');
  const [m] = (await got) as ChatMessage[];
  assert.equal(m.group, 'team');
  assert.equal(m.text, 'hello team');
  assert.equal(m.id, sent.id);
  const hist = await bob.history({ group: 'team', limit: 10 });
  assert.deepEqual(hist.map((h) => h.text), ['hello team']);
  const list = await bob.groupList();
  assert.deepEqual(list.map((g) => [g.name, g.role]), [['team', 'member']]);
  await assert.rejects(bob.groupAdd('team', 'carol'), (e: SecureChatError) => e.code === 'forbidden');
  alice.close();
  bob.close();
});

test('files: sent in chunks, fetched automatically, verified, saved under a safe unique name', async () => {
  const src = join(work, 'report.bin');
  const data = randomBytes(200 * 1024 + 123); // several 64 KiB chunks plus a tail
  writeFileSync(src, data);
  const sha = createHash('sha256').update(data).digest('hex');
  const dl = join(work, 'bob-downloads');
  const alice = await client('alice');
  const bob = await client('bob', { autoFetchFiles: dl });
  const progress: number[] = [];
  const fileEv = next(bob, 'file');
  const sent = await alice.sendFile({ to: 'bob', path: src, onProgress: (done) => progress.push(done) });
  assert.equal(sent.file.size, data.length);
  assert.equal(sent.file.sha256, sha);
  assert.equal(progress.at(-1), data.length);
  const [f] = (await fileEv) as FileEvent[];
  assert.equal(f.from, 'alice');
  assert.equal(f.name, 'report.bin');
  assert.equal(f.sha256, sha);
  assert.equal(f.path, join(dl, 'report.bin'));
  assert.deepEqual(readFileSync(f.path), data);

  // Fetching it again never overwrites the first copy.
  const again = await bob.fetchFile(f.id, dl);
  assert.equal(again.path, join(dl, 'report (1).bin'));
  assert.deepEqual(readFileSync(again.path), data);
  assert.deepEqual(readdirSync(dl).sort(), ['report (1).bin', 'report.bin']);

  // A hostile name is reduced to its basename.
  const ev2 = next(bob, 'file');
  await alice.sendFile({ to: 'bob', path: src, name: '../../.evil\u0007name.sh' });
  const [f2] = (await ev2) as FileEvent[];
  assert.equal(f2.path, join(dl, 'evilname.sh'));
  alice.close();
  bob.close();
});

test('bad inputs are refused before anything moves', async () => {
  const alice = await client('alice');
  await assert.rejects(alice.dm('nobody', 'hi'), (e: SecureChatError) => e.code === 'unknown_user');
  await assert.rejects(alice.groupSend('no-such-group', 'hi'), (e: SecureChatError) => e.code === 'unknown_group' || e.code === 'not_member');
  const big = join(work, 'big.bin');
  writeFileSync(big, Buffer.alloc(600 * 1024));
  await assert.rejects(alice.sendFile({ to: 'bob', path: big }), (e: SecureChatError) => e.code === 'file_too_large');
  await assert.rejects(alice.sendFile({ to: 'nobody', path: big }), (e: SecureChatError) => e.code === 'unknown_user' || e.code === 'file_too_large');
  await assert.rejects(alice.sendFile({ to: 'bob', path: join(work, 'missing.bin') }), (e: SecureChatError) => e.code === 'io_error' && e.message.includes('missing.bin'));
  alice.close();
});

test('open() loads identity and trust from --certs DIR --user NAME', async () => {
  const chat = await ChatClient.open({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', certs: srv.pki.dir, user: 'alice' });
  open.push(chat);
  const me = await chat.login(TEST_PASSWORD);
  assert.equal(me.username, 'alice');
  chat.close();
});

test('loadClientFiles names the file that is wrong', () => {
  const dir = srv.pki.dir;
  assert.throws(
    () => loadClientFiles({ ca: join(dir, 'root_ca.pem'), cert: join(dir, 'nope_cert.pem'), key: join(dir, 'alice_key.pem') }),
    (e: SecureChatError) => e.code === 'io_error' && e.message.includes('nope_cert.pem'),
  );
  const garbage = join(work, 'garbage.pem');
  writeFileSync(garbage, 'not a pem');
  assert.throws(
    () => loadClientFiles({ ca: join(dir, 'root_ca.pem'), cert: garbage, key: join(dir, 'alice_key.pem') }),
    (e: SecureChatError) => e.code === 'bad_input' && e.message.includes('garbage.pem'),
  );
});
