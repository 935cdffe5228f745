/**
 * Shared ticket keys (cluster/ticket-keys.ts) on the in-memory backend with a test clock: two
 * "nodes" seal and open each other's tickets, rotate together, keep the previous key for one
 * lifetime, store only sealed keys, and fall back to a key of their own when the bus is away or
 * the secrets differ. The cluster secret file (cluster/secret.ts): 0600, ≥ 32 bytes, trimmed.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkConfig } from '../../src/cli/check-config.js';
import { DEFAULT_CONFIG } from '../../src/config.js';
import { SecureChatError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { BusFailures, NULL_CLUSTER_OBSERVER } from '../../src/server/cluster/failures.js';
import { MemoryBackend, MemoryStore } from '../../src/server/cluster/memory.js';
import { readClusterSecret } from '../../src/server/cluster/secret.js';
import { SharedTicketKeys } from '../../src/server/cluster/ticket-keys.js';
import { openTicket, sealTicket, TicketKeyRing, type TicketState } from '../../src/server/tickets.js';

const HOUR = 3600_000;
const LIFETIME = 24 * HOUR;
const SECRET = Buffer.from('a cluster secret of at least thirty-two bytes!!', 'utf8');

function state(now: number): TicketState {
  return { psk: Buffer.alloc(32, 7), issuedAt: now, expiresAt: now + LIFETIME, path: [Buffer.from([0xaa])], login: null };
}

function makeNode(store: MemoryStore, clock: { now: number }, secret = SECRET) {
  const backend = new MemoryBackend(store);
  const ring = new TicketKeyRing({ rotationMs: HOUR, lifetimeMs: LIFETIME, now: () => clock.now, external: true });
  const failures = new BusFailures(silentLogger(), NULL_CLUSTER_OBSERVER);
  const keys = new SharedTicketKeys({ values: backend.values, ring, secret, namespace: 'test', rotationMs: HOUR, lifetimeMs: LIFETIME, failures, log: silentLogger(), now: () => clock.now });
  return { backend, ring, keys, failures };
}

const stores: MemoryStore[] = [];
after(() => {
  for (const s of stores) s.stop();
});

function newStore(clock: { now: number }): MemoryStore {
  const s = new MemoryStore(() => clock.now);
  stores.push(s);
  return s;
}

test('two nodes share the current key: a ticket sealed on one opens on the other', async () => {
  const clock = { now: 1000 * HOUR + 5 * 60_000 };
  const store = newStore(clock);
  const a = makeNode(store, clock);
  const b = makeNode(store, clock);
  await Promise.all([a.keys.start(), b.keys.start()]);
  assert.ok(a.ring.current().id.equals(b.ring.current().id), 'one key cluster-wide');
  const ticket = sealTicket(a.ring.current(), state(clock.now));
  assert.deepEqual(openTicket(b.ring, ticket).path, [Buffer.from([0xaa])]);
  a.keys.stop();
  b.keys.stop();
});

test('rotation is coordinated: both nodes switch to the same next key, and the previous one opens for one lifetime', async () => {
  const clock = { now: 2000 * HOUR + 59 * 60_000 };
  const store = newStore(clock);
  const a = makeNode(store, clock);
  const b = makeNode(store, clock);
  await a.keys.start();
  await b.keys.start();
  const before = a.ring.current().id;
  const oldTicket = sealTicket(a.ring.current(), state(clock.now));
  clock.now += 2 * 60_000; // past the hour
  assert.ok(!a.ring.current().id.equals(before), 'the next key was made ahead and takes over at the boundary');
  assert.ok(a.ring.current().id.equals(b.ring.current().id), 'the same key on both nodes, no message needed');
  const newTicket = sealTicket(a.ring.current(), state(clock.now));
  assert.ok(openTicket(b.ring, newTicket));
  assert.ok(openTicket(b.ring, oldTicket), 'the previous key still opens');
  await Promise.all([a.keys.tick(), b.keys.tick()]);
  clock.now += LIFETIME + 60_000;
  await b.keys.tick();
  assert.throws(() => openTicket(b.ring, oldTicket), (err: SecureChatError) => err.reason === 'unknown_key', 'dropped after one lifetime');
  a.keys.stop();
  b.keys.stop();
});

test('ticks keep working after passes with nothing to load (each rotation brings the next key)', async () => {
  const clock = { now: 2500 * HOUR + 10 * 60_000 };
  const store = newStore(clock);
  const a = makeNode(store, clock);
  await a.keys.start();
  const seen = new Set<string>([a.ring.current().id.toString('hex')]);
  for (let i = 0; i < 3; i++) {
    await a.keys.tick(); // nothing to load: completes at once
    clock.now += HOUR;
    await a.keys.tick();
    seen.add(a.ring.current().id.toString('hex'));
  }
  assert.equal(seen.size, 4, 'a new key every rotation');
  a.keys.stop();
});

test('a node that starts later loads the keys of tickets still alive', async () => {
  const clock = { now: 3000 * HOUR + 10 * 60_000 };
  const store = newStore(clock);
  const a = makeNode(store, clock);
  await a.keys.start();
  const early = sealTicket(a.ring.current(), state(clock.now));
  clock.now += 3 * HOUR;
  await a.keys.tick();
  const late = makeNode(store, clock);
  await late.keys.start();
  assert.ok(openTicket(late.ring, early), 'a 3-hour-old ticket opens on a node started since');
  assert.ok(late.ring.current().id.equals(a.ring.current().id));
  a.keys.stop();
  late.keys.stop();
});

test('the shared store holds only sealed keys, bound to their slot', async () => {
  const clock = { now: 4000 * HOUR };
  const store = newStore(clock);
  const a = makeNode(store, clock);
  await a.keys.start();
  const raw = [...store.values.values()].map((v) => v.value).join('\n');
  const key = (a.ring as unknown as { keys: Array<{ key: Buffer }> }).keys[0].key;
  assert.ok(!raw.includes(key.toString('base64')) && !raw.includes(key.toString('hex')), 'no key in the clear');
  assert.equal(JSON.stringify(a.keys), '"[redacted shared ticket keys]"');
  a.keys.stop();
});

test('a node with another secret cannot open the shared keys: it seals with its own (tickets resume only there)', async () => {
  const clock = { now: 5000 * HOUR };
  const store = newStore(clock);
  const a = makeNode(store, clock);
  await a.keys.start();
  const b = makeNode(store, clock, Buffer.from('another secret, also thirty-two bytes or more', 'utf8'));
  await b.keys.start();
  assert.ok(b.failures.total > 0, 'counted as a cluster failure');
  assert.ok(!b.ring.current().id.equals(a.ring.current().id));
  const fromB = sealTicket(b.ring.current(), state(clock.now));
  assert.throws(() => openTicket(a.ring, fromB), (err: SecureChatError) => err.reason === 'unknown_key');
  a.keys.stop();
  b.keys.stop();
});

test('bus down at a rotation: the node keeps a key of its own, and takes the shared one when the bus is back', async () => {
  const clock = { now: 6000 * HOUR + 30 * 60_000 };
  const store = newStore(clock);
  const a = makeNode(store, clock);
  await a.keys.start();
  // Node b's connection is closed (every call rejects cluster_unavailable) from its start on.
  const b = makeNode(store, clock);
  await b.backend.close();
  await b.keys.start();
  assert.ok(b.ring.current(), 'a fallback key: tickets still issued');
  assert.ok(!b.ring.current().id.equals(a.ring.current().id));
  // Bus back (a fresh connection on the same store, the same ring).
  const back = new SharedTicketKeys({
    values: new MemoryBackend(store).values, ring: b.ring, secret: SECRET, namespace: 'test', rotationMs: HOUR, lifetimeMs: LIFETIME,
    failures: b.failures, log: silentLogger(), now: () => clock.now,
  });
  await back.tick();
  assert.ok(b.ring.current().id.equals(a.ring.current().id), 'the shared key supersedes the fallback');
  a.keys.stop();
  back.stop();
});

test('the cluster secret file: 0600 only, at least 32 bytes, trailing newline ignored, content never in errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-secret-'));
  try {
    const file = join(dir, 'cluster.secret');
    writeFileSync(file, `${SECRET.toString('utf8')}\n`, { mode: 0o600 });
    assert.deepEqual(readClusterSecret(file), SECRET);
    chmodSync(file, 0o644);
    assert.throws(() => readClusterSecret(file), (err: SecureChatError) => err.code === 'usage' && /chmod 600/.test(err.message) && !err.message.includes('thirty'));
    const short = join(dir, 'short.secret');
    writeFileSync(short, 'too short\n', { mode: 0o600 });
    assert.throws(() => readClusterSecret(short), (err: SecureChatError) => err.code === 'usage' && !err.message.includes('too short'));
    assert.throws(() => readClusterSecret(join(dir, 'missing')), (err: SecureChatError) => err.code === 'io_error');
    // serve --check-config says the same, without contacting the bus.
    const check = (secretFile: string) =>
      checkConfig({ ...DEFAULT_CONFIG, cluster: 'redis://127.0.0.1:6379', db: 'mysql://root@127.0.0.1:3306/x', certs: join(dir, 'no-ca'), clusterSecretFile: secretFile }).find((l) => l.what === 'cluster secret');
    assert.equal(check(file)?.ok, false);
    chmodSync(file, 0o600);
    assert.equal(check(file)?.ok, true);
    assert.equal(check('none')?.ok, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
