/** `securechat user …` and `securechat db …` run as real processes against real databases. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AccountService } from '../../src/server/accounts.js';
import { openStorage } from '../../src/storage/index.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/storage/migrations/index.js';

/** Every migration a fresh database gets, in order. */
const ALL_VERSIONS = MIGRATIONS.map((m) => m.version);
import { createTestDatabase, mysqlSkip } from '../helpers/mysql.js';
import { tempSqlite } from '../helpers/sqlite.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'src/cli/index.ts');
const FAST = { N: 1024, r: 8, p: 1 };
const PASSWORD = 'first-password-42';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, SECURECHAT_DB: '', SECURECHAT_PASSWORD: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const json = (r: Run) => JSON.parse(r.stdout.trim()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let db: ReturnType<typeof tempSqlite>;

before(async () => {
  db = tempSqlite();
  const storage = await openStorage(db.url);
  const accounts = new AccountService({ storage, scryptParams: FAST });
  await accounts.register({ username: 'alice', certUsername: 'alice', fingerprint: 'cd'.repeat(32), ip: '127.0.0.1', password: PASSWORD });
  await storage.close();
});
after(() => db.dispose());

async function login(password: string): Promise<string> {
  const storage = await openStorage(db.url);
  try {
    await new AccountService({ storage, scryptParams: FAST }).login({ username: 'alice', certUsername: 'alice', fingerprint: 'cd'.repeat(32), ip: '127.0.0.1', password });
    return 'ok';
  } catch (err) {
    return (err as { code: string }).code;
  } finally {
    await storage.close();
  }
}

test('user list and show (text and --json)', async () => {
  const list = await cli(['user', 'list', '--db', db.url, '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(json(list).users.map((u: { username: string; disabled: boolean }) => [u.username, u.disabled]), [['alice', false]]);
  assert.equal(list.stdout.includes('scrypt'), false, 'no hash in the output');
  const show = await cli(['user', 'show', 'alice'], { SECURECHAT_DB: db.url });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /username:\s+alice/);
  assert.match(show.stdout, new RegExp('cd'.repeat(32)));
  const missing = await cli(['user', 'show', 'nobody', '--db', db.url]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /unknown_user/);
});

test('disable and enable', async () => {
  assert.equal((await cli(['user', 'disable', 'alice', '--db', db.url])).code, 0);
  assert.equal(await login(PASSWORD), 'account_disabled');
  assert.equal((await cli(['user', 'enable', 'alice', '--db', db.url])).code, 0);
  assert.equal(await login(PASSWORD), 'ok');
});

test('reset-password reads the secret from a file or the environment, never a flag', async () => {
  const file = join(db.dir, 'new.pass');
  writeFileSync(file, 'operator-set-secret-7\n', { mode: 0o600 });
  const r = await cli(['user', 'reset-password', 'alice', '--password-file', file, '--db', db.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.includes('operator-set-secret-7') || r.stderr.includes('operator-set-secret-7'), false);
  assert.equal(await login('operator-set-secret-7'), 'ok');
  const viaEnv = await cli(['user', 'reset-password', 'alice', '--db', db.url], { SECURECHAT_PASSWORD: 'from-the-environment-8' });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.equal(await login('from-the-environment-8'), 'ok');
  const weak = await cli(['user', 'reset-password', 'alice', '--db', db.url], { SECURECHAT_PASSWORD: 'alice123456' });
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /weak_password/);
  const none = await cli(['user', 'reset-password', 'alice', '--db', db.url]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--password-file/);
});

test('db status, migrate (idempotent), and a schema from the future', async () => {
  const fresh = tempSqlite();
  try {
    const status = await cli(['db', 'status', '--db', fresh.url, '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(json(status).pending, ALL_VERSIONS);
    const m1 = await cli(['db', 'migrate', '--db', fresh.url, '--json']);
    assert.deepEqual(json(m1).applied, ALL_VERSIONS);
    const m2 = await cli(['db', 'migrate', '--db', fresh.url, '--json']);
    assert.deepEqual(json(m2).applied, []);
    const st = await openStorage(fresh.url);
    await st.db.run('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)', [LATEST_SCHEMA_VERSION + 1, 'future', 0]);
    await st.close();
    const refused = await cli(['db', 'migrate', '--db', fresh.url]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /schema_too_new/);
  } finally {
    await fresh.dispose();
  }
});

const skipMysql = await mysqlSkip();
test('the same commands on MySQL', { skip: skipMysql }, async () => {
  const mdb = await createTestDatabase();
  try {
    const m = await cli(['db', 'migrate', '--db', mdb.url, '--json']);
    assert.equal(m.code, 0, m.stderr);
    assert.deepEqual(json(m).applied, ALL_VERSIONS);
    const list = await cli(['user', 'list', '--json'], { SECURECHAT_DB: mdb.url });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(json(list).users, []);
  } finally {
    await mdb.dispose();
  }
});
