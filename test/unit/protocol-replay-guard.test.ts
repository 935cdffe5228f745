import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayGuard } from '../../src/protocol/replay-guard.js';
import { SecureChatError } from '../../src/errors.js';

const nonce = (i: number) => Buffer.alloc(32, i);
const code = (c: string) => (e: SecureChatError) => e.code === c;

test('a nonce seen inside the window is a replay', () => {
  const g = new ReplayGuard({ windowMs: 1000, maxEntries: 10 });
  g.record(nonce(1), 10_000, 10_000);
  assert.throws(() => g.record(nonce(1), 10_000, 10_500), code('replay'));
  g.record(nonce(2), 10_000, 10_500);
});

test('timestamps more than the window away are clock_skew, in either direction', () => {
  const g = new ReplayGuard({ windowMs: 1000, maxEntries: 10 });
  assert.throws(() => g.record(nonce(1), 10_000 - 3_600_000, 10_000), code('clock_skew'));
  assert.throws(() => g.record(nonce(1), 10_000 + 1001, 10_000), code('clock_skew'));
  assert.equal(g.size, 0, 'refused hellos are not remembered');
  g.record(nonce(1), 10_000 + 1000, 10_000);
});

test('once its timestamp leaves the window, a replay is refused as clock_skew and the entry is dropped', () => {
  const g = new ReplayGuard({ windowMs: 1000, maxEntries: 10 });
  g.record(nonce(1), 10_000, 10_000);
  assert.throws(() => g.record(nonce(1), 10_000, 11_001), code('clock_skew'));
  g.record(nonce(2), 11_001, 11_001);
  assert.equal(g.size, 1);
});

test('full of live entries: fails closed with busy, never forgets; recovers as entries expire', () => {
  const g = new ReplayGuard({ windowMs: 1000, maxEntries: 3 });
  g.record(nonce(1), 10_000, 10_000);
  g.record(nonce(2), 10_500, 10_000);
  g.record(nonce(3), 9_500, 10_000);
  assert.throws(() => g.record(nonce(4), 10_000, 10_000), code('busy'));
  assert.throws(() => g.record(nonce(1), 10_000, 10_000), code('replay'), 'still remembered when full');
  // nonce 3 (ts 9500) expires first, at 10 501.
  g.record(nonce(5), 10_501, 10_501);
  assert.throws(() => g.record(nonce(6), 10_501, 10_501), code('busy'));
  g.record(nonce(6), 11_001, 11_001);
  assert.throws(() => g.record(nonce(2), 10_500, 11_001), code('replay'), 'nonce 2 is kept until 11 500');
});

test('check stores nothing; one source may fill only its share of the cache, then gets busy while others still get in', () => {
  const g = new ReplayGuard({ windowMs: 1000, maxEntries: 10, maxEntriesPerSource: 3 });
  g.check(nonce(1), 10_000, 10_000);
  g.check(nonce(1), 10_000, 10_000);
  assert.equal(g.size, 0, 'a hello refused after check leaves no entry');
  for (let i = 1; i <= 3; i++) g.record(nonce(i), 10_000, 10_000, 'flooder');
  assert.throws(() => g.record(nonce(4), 10_000, 10_000, 'flooder'), (e: SecureChatError) => e.code === 'busy' && e.reason === 'replay_cache_share');
  g.record(nonce(5), 10_000, 10_000, 'someone-else');
  assert.equal(g.entriesOf('flooder'), 3);
  // Expiry gives the share back.
  g.record(nonce(6), 11_100, 11_100, 'flooder');
  assert.equal(g.entriesOf('flooder'), 1);
});
