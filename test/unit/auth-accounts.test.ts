/** AccountService against a real SQLite database, with winston output captured to check for leaks. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import winston from 'winston';
import { SecureChatError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { hashParams, hashPassword } from '../../src/auth/password.js';
import { LoginThrottle } from '../../src/auth/throttle.js';
import { AccountService } from '../../src/server/accounts.js';
import { openStorage } from '../../src/storage/index.js';
import type { SqlStorage } from '../../src/storage/sql-storage.js';
import { tempSqlite } from '../helpers/sqlite.js';

const FAST = { N: 1024, r: 8, p: 1 };
const PASSWORD = 'Tr0ub4dor&3-horse';
const FP = 'ab'.repeat(32);

let db: ReturnType<typeof tempSqlite>;
let storage: SqlStorage;
const logLines: string[] = [];

function capturingLogger() {
  const log = createLogger({ console: false, level: 'debug' });
  const stream = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  log.add(new winston.transports.Stream({ stream, format: winston.format.json() }));
  log.silent = false;
  return log;
}

let clockMs = 5_000_000;
function service(extra: Partial<ConstructorParameters<typeof AccountService>[0]> = {}) {
  return new AccountService({
    storage,
    log: capturingLogger(),
    scryptParams: FAST,
    throttle: new LoginThrottle({ now: () => clockMs }),
    ...extra,
  });
}

const id = (username: string, ip = '127.0.0.1') => ({ username, certUsername: username, fingerprint: FP, ip });

async function code(p: Promise<unknown>): Promise<SecureChatError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SecureChatError, String(err));
    return err;
  }
  assert.fail('expected a rejection');
}

before(async () => {
  db = tempSqlite();
  storage = await openStorage(db.url);
});
after(async () => {
  await storage.close();
  await db.dispose();
});

test('register then login; certificate recorded; audit written', async () => {
  const svc = service();
  const acc = await svc.register({ ...id('alice'), password: PASSWORD });
  assert.equal(acc.username, 'alice');
  assert.equal('passwordHash' in acc, false);
  const again = await svc.login({ ...id('alice'), password: PASSWORD });
  assert.equal(again.uuid, acc.uuid);
  assert.deepEqual((await storage.listCertificates(acc.id)).map((c) => c.fingerprint), [FP]);
  assert.deepEqual((await storage.listAudit({ username: 'alice' })).map((e) => e.event), ['login_ok', 'register']);
  assert.equal((await code(svc.register({ ...id('alice'), password: PASSWORD }))).code, 'exists');
  assert.equal((await code(svc.register({ ...id('ALICE'), password: PASSWORD }))).code, 'exists');
});

test('the name must be the certificate CN', async () => {
  const svc = service();
  assert.equal((await code(svc.register({ ...id('bob'), certUsername: 'mallory', password: PASSWORD }))).code, 'name_mismatch');
  await svc.register({ ...id('bob'), password: PASSWORD });
  assert.equal((await code(svc.login({ ...id('bob'), certUsername: 'mallory', password: PASSWORD }))).code, 'name_mismatch');
  assert.equal((await storage.listAudit({ username: 'bob' })).at(-1)?.event, 'name_mismatch');
});

test('register validates the username and the password policy', async () => {
  const svc = service();
  assert.equal((await code(svc.register({ ...id('bad name'), password: PASSWORD }))).reason, 'bad_username');
  const weak = await code(svc.register({ ...id('carol'), password: 'carol12345678' }));
  assert.equal(weak.code, 'weak_password');
  assert.equal(await storage.getUserByName('carol'), null);
});

test('unknown user and wrong password fail identically', async () => {
  const svc = service();
  await svc.register({ ...id('dave'), password: PASSWORD });
  const wrong = await code(svc.login({ ...id('dave'), password: 'not the password' }));
  const unknown = await code(svc.login({ ...id('nobody'), password: 'not the password' }));
  assert.deepEqual(wrong.toJSON(), unknown.toJSON());
  assert.equal(wrong.code, 'auth_failed');
});

test('throttling per (account, IP): the real user elsewhere still logs in', async () => {
  const svc = service();
  await svc.register({ ...id('erin', '10.0.0.1'), password: PASSWORD });
  for (let i = 0; i < 5; i++) assert.equal((await code(svc.login({ ...id('erin', '192.0.2.66'), password: `guess-number-${i}` }))).code, 'auth_failed');
  const t = await code(svc.login({ ...id('erin', '192.0.2.66'), password: PASSWORD }));
  assert.equal(t.code, 'throttled');
  assert.equal(t.details?.retryAfterMs, 1000);
  assert.equal((await svc.login({ ...id('erin', '10.0.0.1'), password: PASSWORD })).username, 'erin');
  clockMs += 1000;
  assert.equal((await svc.login({ ...id('erin', '192.0.2.66'), password: PASSWORD })).username, 'erin');
  assert.ok((await storage.listAudit({ username: 'erin' })).some((e) => e.event === 'throttled' && e.ip === '192.0.2.66'));
});

test('disabled accounts are refused after a correct password only', async () => {
  const svc = service();
  await svc.register({ ...id('frank'), password: PASSWORD });
  await svc.setDisabled('frank', true);
  assert.equal((await code(svc.login({ ...id('frank'), password: 'wrong password!' }))).code, 'auth_failed');
  assert.equal((await code(svc.login({ ...id('frank'), password: PASSWORD }))).code, 'account_disabled');
  await svc.setDisabled('frank', false);
  await svc.login({ ...id('frank'), password: PASSWORD });
});

test('login upgrades a hash made with weaker parameters', async () => {
  const svc = service();
  await storage.createUser({ username: 'grace', passwordHash: await hashPassword(PASSWORD, { N: 512, r: 8, p: 1 }) });
  await svc.login({ ...id('grace'), password: PASSWORD });
  assert.deepEqual(hashParams((await storage.getUserByName('grace'))!.passwordHash), FAST);
  await svc.login({ ...id('grace'), password: PASSWORD });
});

test('change and reset password', async () => {
  const svc = service();
  await svc.register({ ...id('heidi'), password: PASSWORD });
  assert.equal((await code(svc.changePassword({ username: 'heidi', oldPassword: 'nope nope nope', newPassword: 'another-good-one', ip: '127.0.0.1' }))).code, 'auth_failed');
  assert.equal((await code(svc.changePassword({ username: 'heidi', oldPassword: PASSWORD, newPassword: 'short', ip: '127.0.0.1' }))).code, 'weak_password');
  await svc.changePassword({ username: 'heidi', oldPassword: PASSWORD, newPassword: 'another-good-one', ip: '127.0.0.1' });
  await svc.login({ ...id('heidi'), password: 'another-good-one' });
  await svc.resetPassword('heidi', 'operator-chosen-99');
  await svc.login({ ...id('heidi'), password: 'operator-chosen-99' });
  const events = (await storage.listAudit({ username: 'heidi' })).map((e) => e.event);
  assert.ok(events.includes('password_changed') && events.includes('password_reset'));
});

test('storage down: storage_unavailable, not auth_failed', async () => {
  const d = tempSqlite();
  const st = await openStorage(d.url);
  const svc = new AccountService({ storage: st, scryptParams: FAST });
  await st.close();
  assert.equal((await code(svc.login({ ...id('ivan'), password: PASSWORD }))).code, 'storage_unavailable');
  await d.dispose();
});

test('no password or hash ever reaches the logs or the audit log', async () => {
  const secrets = [PASSWORD, 'not the password', 'another-good-one', 'operator-chosen-99', 'guess-number-1'];
  const hashes = (await storage.listUsers()).map((u) => u.passwordHash.split('$')[5]);
  assert.ok(logLines.length > 10, 'logs were captured');
  const all = logLines.join('\n') + JSON.stringify(await storage.listAudit({ limit: 1000 }));
  for (const s of [...secrets, ...hashes]) assert.equal(all.includes(s), false, `leaked: ${s.slice(0, 4)}…`);
});
