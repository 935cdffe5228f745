/**
 * Accounts end to end through the encrypted channel: register, login, the name bound to the
 * certificate, password policy, throttling, and a storage outage that the server survives.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SecureChatError } from '../../src/errors.js';
import { SqlStorage } from '../../src/storage/sql-storage.js';
import { nextPush, startChatServer, TEST_PASSWORD, type TestChatServer } from '../helpers/chat-server.js';

let chat: TestChatServer;
before(async () => {
  // Seven password attempts on one session must meet the login throttle, not the pre-login request budget.
  chat = await startChatServer({ limits: { rate: { requestsPerSecond: 50, burst: 200, maxInflightBytes: 8 << 20, preLoginRequestsPerSecond: 50, preLoginBurst: 200 } } });
});
after(() => chat.close());

const code = (expected: string) => (err: SecureChatError) => {
  assert.equal(err.code, expected, `${err.code}: ${err.message}`);
  return true;
};

test('register binds the account to the certificate CN; another name is name_mismatch; a weak password is weak_password', async () => {
  const alice = await chat.connect('alice');
  await assert.rejects(alice.request('register', { password: TEST_PASSWORD, username: 'bob' }), code('name_mismatch'));
  await assert.rejects(alice.request('register', { password: 'password' }), code('weak_password'));
  await assert.rejects(alice.request('register', { password: 'alice-alice-alice' }), code('weak_password'));
  const result = await alice.request<{ user: { username: string; uuid: string } }>('register', { password: TEST_PASSWORD });
  assert.equal(result.user.username, 'alice');
  assert.match(result.user.uuid, /^[0-9a-f-]{36}$/);
  alice.close();
  const again = await chat.connect('alice');
  await assert.rejects(again.request('register', { password: TEST_PASSWORD }), code('exists'));
  await again.request('login', { password: TEST_PASSWORD });
  again.close();
  const stored = await chat.storage.getUserByName('alice');
  assert.ok(stored && stored.passwordHash.startsWith('scrypt$') && !stored.passwordHash.includes(TEST_PASSWORD));
});

test('wrong passwords are auth_failed, then throttled with a retry-after; the right password is refused while throttled', async () => {
  (await chat.login('carol')).close();
  const carol = await chat.connect('carol');
  for (let i = 0; i < 5; i++) {
    await assert.rejects(carol.request('login', { password: `wrong password ${i}` }), code('auth_failed'));
  }
  await assert.rejects(carol.request('login', { password: `wrong password 6` }), (err: SecureChatError) => {
    assert.equal(err.code, 'throttled');
    assert.ok(Number(err.details?.retryAfterMs) > 0, JSON.stringify(err.details));
    return true;
  });
  await assert.rejects(carol.request('login', { password: TEST_PASSWORD }), code('throttled'));
  carol.close();
});

test('change_password: the old one stops working, the new one works', async () => {
  const dave = await chat.login('dave');
  await assert.rejects(dave.request('change_password', { old_password: 'not the password', new_password: 'a brand new secret 42' }), code('auth_failed'));
  await dave.request('change_password', { old_password: TEST_PASSWORD, new_password: 'a brand new secret 42' });
  dave.close();
  const again = await chat.connect('dave');
  await assert.rejects(again.request('login', { password: TEST_PASSWORD }), code('auth_failed'));
  await again.request('login', { password: 'a brand new secret 42' });
  again.close();
});

test('storage outage: requests get storage_unavailable, the session survives, nothing unstored is acknowledged, and it recovers', async () => {
  const alice = await chat.login('alice');
  const bob = await chat.login('bob');
  const db = (chat.storage as SqlStorage).db;
  await db.run('PRAGMA query_only = ON');
  try {
    await assert.rejects(alice.request('dm', { to: 'bob', text: 'during the outage' }), code('storage_unavailable'));
  } finally {
    await db.run('PRAGMA query_only = OFF');
  }
  assert.equal(alice.closed, false);
  const got = nextPush<{ text: string }>(bob, 'message');
  const ack = await alice.request<{ id: number }>('dm', { to: 'bob', text: 'after the outage' });
  assert.equal((await got).text, 'after the outage');
  const history = await alice.request<{ messages: { text: string }[] }>('history', { with: 'bob' });
  assert.deepEqual(
    history.messages.map((m) => m.text).filter((t) => t.endsWith('outage')),
    ['after the outage'],
  );
  assert.ok(ack.id > 0);
  alice.close();
  bob.close();
});
