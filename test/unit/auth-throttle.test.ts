import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecureChatError } from '../../src/errors.js';
import { LoginThrottle } from '../../src/auth/throttle.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function retryAfter(th: LoginThrottle, username: string, ip: string): number | undefined {
  try {
    th.check({ username, ip });
    return undefined;
  } catch (err) {
    assert.ok(err instanceof SecureChatError);
    assert.equal(err.code, 'throttled');
    return err.details?.retryAfterMs as number;
  }
}

test('after 5 failures in the window, an exponentially growing delay per (account, IP)', () => {
  const c = clock();
  const th = new LoginThrottle({ now: c.now });
  const a = { username: 'alice', ip: '203.0.113.9' };
  for (let i = 0; i < 4; i++) th.recordFailure(a);
  assert.equal(retryAfter(th, 'alice', a.ip), undefined);
  th.recordFailure(a);
  assert.equal(retryAfter(th, 'alice', a.ip), 1000);
  c.advance(1000);
  assert.equal(retryAfter(th, 'alice', a.ip), undefined);
  th.recordFailure(a);
  assert.equal(retryAfter(th, 'ALICE', a.ip), 2000, 'account names compare case-insensitively');
  c.advance(2000);
  th.recordFailure(a);
  assert.equal(retryAfter(th, 'alice', a.ip), 4000);
});

test('the delay is capped at 15 minutes and failures age out of the window', () => {
  const c = clock();
  const th = new LoginThrottle({ now: c.now, ipMaxFailures: 1000, accountMaxFailures: 1000 });
  const a = { username: 'bob', ip: '198.51.100.1' };
  for (let i = 0; i < 30; i++) th.recordFailure(a);
  assert.equal(retryAfter(th, 'bob', a.ip), 15 * 60_000);
  c.advance(15 * 60_000);
  assert.equal(retryAfter(th, 'bob', a.ip), undefined);
  th.recordFailure(a); // the 30 earlier failures are outside the window now
  assert.equal(retryAfter(th, 'bob', a.ip), undefined);
});

test('an attacker at another address cannot lock the real user out', () => {
  const c = clock();
  const th = new LoginThrottle({ now: c.now, accountMaxFailures: 8 });
  th.recordSuccess({ username: 'carol', ip: '10.0.0.5' }); // carol logged in from home before
  for (let i = 0; i < 40; i++) th.recordFailure({ username: 'carol', ip: `192.0.2.${i % 4}` });
  assert.ok(retryAfter(th, 'carol', '192.0.2.1')! > 0, 'attacker is throttled');
  assert.ok(retryAfter(th, 'carol', '192.0.2.77')! > 0, 'account-wide limit stops new attacker addresses');
  assert.equal(retryAfter(th, 'carol', '10.0.0.5'), undefined, 'the user at a known address is not');
});

test('per-IP limit across accounts', () => {
  const c = clock();
  const th = new LoginThrottle({ now: c.now, ipMaxFailures: 6 });
  for (let i = 0; i < 6; i++) th.recordFailure({ username: `user${i}`, ip: '203.0.113.50' });
  assert.equal(retryAfter(th, 'someone-else', '203.0.113.50'), 1000);
  assert.equal(retryAfter(th, 'someone-else', '203.0.113.51'), undefined);
});

test('a success clears the (account, IP) bucket', () => {
  const c = clock();
  const th = new LoginThrottle({ now: c.now });
  const a = { username: 'dave', ip: '10.1.1.1' };
  for (let i = 0; i < 4; i++) th.recordFailure(a);
  th.recordSuccess(a);
  th.recordFailure(a);
  assert.equal(retryAfter(th, 'dave', a.ip), undefined);
});

test('memory is bounded', () => {
  const th = new LoginThrottle({ maxEntries: 100 });
  for (let i = 0; i < 5000; i++) th.recordFailure({ username: `u${i}`, ip: `10.0.${i >> 8}.${i & 255}` });
  assert.ok(th.trackedEntries <= 200);
});
