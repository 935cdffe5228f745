/** The per-user request budget (server/user-rate.ts): shared by a user's sessions, fed by other nodes' spending, bounded. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecureChatError } from '../../src/errors.js';
import { UserRates } from '../../src/server/user-rate.js';

function clock() {
  const c = { now: 1_000_000 };
  return { c, now: () => c.now };
}

test('one bucket per user: what one session spends, another of the same user cannot', () => {
  const { c, now } = clock();
  const r = new UserRates({ requestsPerSecond: 10, burst: 20 }, now);
  for (let i = 0; i < 20; i++) {
    r.check('alice', 1);
    r.take('alice', 1);
  }
  assert.throws(() => r.check('alice', 1), (e: SecureChatError) => e.code === 'rate_limited' && e.reason === 'user_rate' && Number(e.details?.retryAfterMs) === 100);
  r.check('bob', 1); // another user is not affected
  c.now += 500; // 5 tokens back
  r.check('alice', 5);
  assert.throws(() => r.check('alice', 6));
  r.stop();
});

test('spending reported by other nodes is taken out here, with the debt bounded by one burst; drainSpent reports and resets', () => {
  const { c, now } = clock();
  const r = new UserRates({ requestsPerSecond: 10, burst: 20 }, now);
  r.take('alice', 3);
  assert.deepEqual([...r.drainSpent()], [['alice', 3]]);
  assert.deepEqual([...r.drainSpent()], [], 'reset after each report');
  r.spentElsewhere('alice', 1000);
  assert.throws(() => r.check('alice', 1));
  c.now += 4000; // 40 tokens: from the -20 floor back to the full 20
  r.check('alice', 20);
  assert.deepEqual([...r.drainSpent()], [], 'what others spent is not reported back');
  r.stop();
});

test('off when the rate is 0; bounded table; idle full buckets are swept', () => {
  const { c, now } = clock();
  const off = new UserRates({ requestsPerSecond: 0, burst: 0 }, now);
  off.take('x', 1e9);
  off.check('x', 1e9);
  assert.equal(off.size, 0);
  off.stop();
  const r = new UserRates({ requestsPerSecond: 10, burst: 20 }, now, 2);
  r.take('a', 1);
  r.take('b', 1);
  r.take('c', 1); // table full: c is limited per session only
  assert.equal(r.size, 2);
  r.check('c', 1e6);
  r.drainSpent();
  c.now += 10_000;
  r.sweep();
  assert.equal(r.size, 0);
  r.stop();
});
