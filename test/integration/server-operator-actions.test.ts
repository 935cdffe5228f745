/**
 * Issue 9 §3: operator actions take effect on live sessions at once, across processes. Real
 * `securechat serve` processes (two of them on one database), the real `securechat user` CLI
 * writing that database while they run, and clients that watch their sessions end with
 * account_disabled / credentials_changed. Also: known login sources survive a restart.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SecureChatClient } from '../../src/client/client.js';
import type { SecureChatError } from '../../src/errors.js';
import { AccountService } from '../../src/server/accounts.js';
import { openStorage } from '../../src/storage/index.js';
import { makeTestPki, userIdentity, type TestPki } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, mysqlSkip } from '../helpers/mysql.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase 7';

let pki: TestPki;
const work = mkdtempSync(join(tmpdir(), 'securechat-opactions-'));
before(async () => {
  pki = await makeTestPki(['alice', 'bob', 'carol', 'dave']);
});
after(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

function serveArgs(db: string, name: string): string[] {
  return ['--port', '0', '--certs', pki.dir, '--db', db, '--log-file', join(work, `${name}.log`), '--no-generate'];
}

async function connect(server: ServeProcess, user: string): Promise<SecureChatClient> {
  return SecureChatClient.connect({ host: '127.0.0.1', port: server.port, serverName: 'localhost', identity: userIdentity(pki, user), trust: pki.trust });
}

async function loggedIn(server: ServeProcess, user: string, register = false, password = PASSWORD): Promise<SecureChatClient> {
  const c = await connect(server, user);
  await c.request(register ? 'register' : 'login', { password });
  return c;
}

/** The error the session ended with (waits for the close itself, not for a timer). */
async function closedWith(client: SecureChatClient, timeoutMs = 15_000): Promise<string | undefined> {
  if (client.closed) throw new Error('already closed');
  const timer = setTimeout(() => client.emit('close', { code: 'test_timeout' } as unknown as SecureChatError), timeoutMs);
  const [err] = (await once(client, 'close')) as [SecureChatError | undefined];
  clearTimeout(timer);
  return err?.code;
}

async function loginCode(server: ServeProcess, user: string, password: string): Promise<string> {
  const c = await connect(server, user);
  try {
    await c.request('login', { password });
    return 'ok';
  } catch (err) {
    return (err as SecureChatError).code;
  } finally {
    c.close();
  }
}

async function operatorScenario(db: string, label: string, twoServers: boolean): Promise<void> {
  const one = await startServe(serveArgs(db, `${label}-1`));
  const two = twoServers ? await startServe(serveArgs(db, `${label}-2`)) : one;
  try {
    // --- user disable: every live session of alice ends, on both processes ---
    const a1 = await loggedIn(one, 'alice', true);
    const a2 = await loggedIn(two, 'alice');
    const b1 = await loggedIn(one, 'bob', true);
    const a1Closed = closedWith(a1);
    const a2Closed = closedWith(a2);
    const disable = await runCli(['user', 'disable', 'alice', '--db', db]);
    assert.equal(disable.code, 0, disable.stderr);
    assert.equal(await a1Closed, 'account_disabled');
    assert.equal(await a2Closed, 'account_disabled');
    // A disabled alice cannot send anything any more, and cannot log in again.
    assert.equal(await loginCode(one, 'alice', PASSWORD), 'account_disabled');
    // Bob is untouched.
    const who = await b1.request<{ users: unknown[] }>('who');
    assert.ok(Array.isArray(who.users));

    // --- user reset-password: bob's sessions end with credentials_changed ---
    const b2 = await loggedIn(two, 'bob');
    const b1Closed = closedWith(b1);
    const b2Closed = closedWith(b2);
    const pwFile = join(work, `${label}-new.pass`);
    writeFileSync(pwFile, NEW_PASSWORD + '\n', { mode: 0o600 });
    const reset = await runCli(['user', 'reset-password', 'bob', '--db', db, '--password-file', pwFile]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal(await b1Closed, 'credentials_changed');
    assert.equal(await b2Closed, 'credentials_changed');
    assert.equal(await loginCode(two, 'bob', PASSWORD), 'auth_failed');

    // --- change_password from one session ends the user's OTHER sessions only ---
    const c1 = await loggedIn(one, 'carol', true);
    const c2 = await loggedIn(two, 'carol');
    const c3 = await loggedIn(one, 'carol');
    const c2Closed = closedWith(c2);
    const c3Closed = closedWith(c3);
    await c1.request('change_password', { old_password: PASSWORD, new_password: NEW_PASSWORD });
    assert.equal(await c2Closed, 'credentials_changed', 'other process');
    assert.equal(await c3Closed, 'credentials_changed', 'same process');
    const still = await c1.request<{ users: Array<{ username: string }> }>('who');
    assert.ok(still.users.some((u) => u.username === 'carol'), 'the session that changed the password stays');
    assert.equal(c1.closed, false);
    c1.close();
  } finally {
    await one.stop();
    if (twoServers) await two.stop();
  }
}

test('SQLite, two server processes: user disable / reset-password / change_password end the other live sessions', async () => {
  await operatorScenario(`sqlite:${join(work, 'shared.db')}`, 'sqlite', true);
});

test('MariaDB: user disable / reset-password / change_password end the other live sessions', async (t) => {
  const skip = await mysqlSkip();
  if (skip) return t.skip(skip);
  const db = await createTestDatabase();
  try {
    await operatorScenario(db.url, 'mysql', true);
  } finally {
    await db.dispose();
  }
});

test('known login sources survive a restart and include the address a user registered from', async () => {
  const url = `sqlite:${join(work, 'throttle.db')}`;
  const FAST = { N: 1024, r: 8, p: 1 };
  const fp = 'ab'.repeat(32);
  const open = async () => {
    const storage = await openStorage(url);
    return { storage, accounts: new AccountService({ storage, scryptParams: FAST }) };
  };
  // dave registers from 10.0.0.1 and never logs in from there afterwards.
  let s = await open();
  await s.accounts.register({ username: 'dave', certUsername: 'dave', fingerprint: fp, ip: '10.0.0.1', password: PASSWORD });
  await s.storage.close();
  // "Restart": a fresh process-worth of state, then many failures from many other addresses.
  s = await open();
  try {
    for (let i = 0; i < 60; i++) {
      await s.accounts
        .login({ username: 'dave', certUsername: 'dave', fingerprint: fp, ip: `192.0.2.${i}`, password: 'wrong guess 1234' })
        .catch((err: SecureChatError) => assert.ok(err.code === 'auth_failed' || err.code === 'throttled', err.code));
    }
    // The account-wide bucket is now blocked for unknown addresses…
    await assert.rejects(
      s.accounts.login({ username: 'dave', certUsername: 'dave', fingerprint: fp, ip: '198.51.100.7', password: PASSWORD }),
      (err: SecureChatError) => err.code === 'throttled',
    );
    // …but not for the address dave registered from.
    const ok = await s.accounts.login({ username: 'dave', certUsername: 'dave', fingerprint: fp, ip: '10.0.0.1', password: PASSWORD });
    assert.equal(ok.username, 'dave');
  } finally {
    await s.storage.close();
  }
  // And a login from a new address is remembered across a restart too.
  s = await open();
  try {
    const storage = s.storage;
    const user = await storage.getUserByName('dave');
    assert.ok(user);
    assert.notEqual(await storage.loginSourceLastSeen(user.id, '10.0.0.1'), null);
    assert.equal(await storage.loginSourceLastSeen(user.id, '198.51.100.7'), null);
  } finally {
    await s.storage.close();
  }
});
