/**
 * Issue 9 §4, against the real `securechat serve` process where it is about the process: file
 * modes under umask 022, SIGHUP (log reopen, certificate/key and CRL reload, bad files keep the
 * old), a stale CRL (re-signed by a zero-config server, warned about with an encrypted CA key,
 * server_crl_expired once past it), expiry of a certificate during its session, and the MySQL
 * password from a file / percent-encoded in the URL, with start-up errors that name host and user.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SecureChatClient } from '../../src/client/client.js';
import type { SecureChatError } from '../../src/errors.js';
import { issueCertificate, writeCrl } from '../../src/pki/ca.js';
import { ensureCertificates } from '../../src/pki/generate.js';
import { parseCrlsPem } from '../../src/pki/parsed-crl.js';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { makeTestPki, startChatServer, type TestPki } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';
import { adminConnection, createTestDatabase, mysqlSkip } from '../helpers/mysql.js';
import { startServe } from '../helpers/serve-process.js';

const PASSWORD = 'correct horse battery';
const work = mkdtempSync(join(tmpdir(), 'securechat-ops-'));
after(() => rmSync(work, { recursive: true, force: true }));

function identity(dir: string, user: string) {
  return {
    chain: readPemCertificates(readFileSync(join(dir, `${user}_cert.pem`), 'utf8')),
    privateKey: readPrivateKey(readFileSync(join(dir, `${user}_key.pem`), 'utf8')),
  };
}

function dial(pki: { dir: string; trust: TrustStore }, port: number, user = 'alice', serverName = 'localhost'): Promise<SecureChatClient> {
  return SecureChatClient.connect({ host: '127.0.0.1', port, serverName, identity: identity(pki.dir, user), trust: pki.trust });
}

const mode = (path: string): number => statSync(path).mode & 0o777;

test('under umask 022 the SQLite database, its -wal/-shm, data/, the log file and logs/ are created 0600 / 0700', async () => {
  const pki = await makeTestPki(['alice']);
  const dir = join(work, 'modes');
  const server = await startServe(
    ['--port', '0', '--certs', pki.dir, '--no-generate', '--db', `sqlite:${join(dir, 'data', 'chat.db')}`, '--log-file', join(dir, 'logs', 'server.log')],
    { umask: '022' },
  );
  try {
    // A registration writes to the database, so the WAL and shared-memory files exist.
    const c = await dial(pki, server.port);
    await c.request('register', { password: PASSWORD });
    c.close();
    assert.equal(mode(join(dir, 'data')), 0o700, 'data/');
    for (const f of ['chat.db', 'chat.db-wal', 'chat.db-shm']) {
      assert.ok(existsSync(join(dir, 'data', f)), f);
      assert.equal(mode(join(dir, 'data', f)), 0o600, f);
    }
    assert.equal(mode(join(dir, 'logs')), 0o700, 'logs/');
    assert.equal(mode(join(dir, 'logs', 'server.log')), 0o600, 'log file');
  } finally {
    await server.stop();
    rmSync(pki.dir, { recursive: true, force: true });
  }
});

test('SIGHUP reopens the log file and reloads the server certificate, key and CRL; a bad file keeps the old one with an error line', async () => {
  const pki = await makeTestPki(['alice']);
  const log = join(work, 'hup', 'server.log');
  const server = await startServe(['--port', '0', '--certs', pki.dir, '--no-generate', '--db', `sqlite:${join(work, 'hup', 'chat.db')}`, '--log-file', log]);
  try {
    await server.waitFor(/server ready/);
    // The file transport opens its file asynchronously: wait until a line is there.
    while (!existsSync(log) || !readFileSync(log, 'utf8').includes('server ready')) await new Promise((r) => setTimeout(r, 50));
    // Log rotation: the old file is renamed away, SIGHUP opens a fresh one.
    renameSync(log, `${log}.1`);
    server.child.kill('SIGHUP');
    await server.waitFor(/reload done/);
    (await dial(pki, server.port)).close();
    assert.ok(existsSync(log), 'a new log file');
    assert.equal(mode(log), 0o600);
    assert.match(readFileSync(log, 'utf8'), /log file reopened/);

    // A garbage certificate and CRL: both kept, each with an error line, and the server still serves.
    const certFile = join(pki.dir, 'server_cert.pem');
    const goodCert = readFileSync(certFile, 'utf8');
    writeFileSync(certFile, 'not a certificate');
    const goodCrl = readFileSync(join(pki.dir, 'crl.pem'), 'utf8');
    writeFileSync(join(pki.dir, 'crl.pem'), 'not a crl');
    let mark = server.output().length;
    server.child.kill('SIGHUP');
    await server.waitFor(/reload done/, 30_000, mark);
    assert.match(server.output().slice(mark), /server certificate reload failed; keeping the previous/);
    assert.match(server.output().slice(mark), /CRL reload failed; keeping the previous CRL/);
    (await dial(pki, server.port)).close();
    writeFileSync(certFile, goodCert);
    writeFileSync(join(pki.dir, 'crl.pem'), goodCrl);

    // A renewed certificate (now only for chat.test) is used after SIGHUP, without a restart.
    await issueCertificate({ dir: pki.dir, kind: 'server', name: 'chat.test', sans: ['DNS:chat.test'], certOut: certFile, keyOut: join(pki.dir, 'server_key.pem'), force: true });
    mark = server.output().length;
    server.child.kill('SIGHUP');
    await server.waitFor(/reload done/, 30_000, mark);
    assert.match(server.output().slice(mark), /server certificate and key reloaded/);
    await assert.rejects(dial(pki, server.port, 'alice', 'localhost'), (err: SecureChatError) => err.reason === 'name_mismatch');
    (await dial(pki, server.port, 'alice', 'chat.test')).close();
    assert.equal(server.child.exitCode, null, 'SIGHUP does not stop the server');
    assert.equal(await server.stop(), 0, server.output());
  } finally {
    await server.stop();
    rmSync(pki.dir, { recursive: true, force: true });
  }
});

test('a zero-config server (unencrypted CA key in --certs) re-signs a CRL that is about to go stale', async () => {
  const pki = await makeTestPki(['alice']);
  try {
    await writeCrl({ dir: pki.dir, nextUpdate: '1h' });
    const server = await startServe(['--port', '0', '--certs', pki.dir, '--no-generate', '--db', `sqlite:${join(work, 'resign.db')}`, '--log-file', join(work, 'resign.log')]);
    try {
      await server.waitFor(/re-signed it with the CA key/);
      const [crl] = parseCrlsPem(readFileSync(join(pki.dir, 'crl.pem'), 'utf8'));
      assert.ok((crl.nextUpdate?.getTime() ?? 0) - Date.now() > 6 * 24 * 3600_000, 'a fresh 7-day CRL');
      (await dial(pki, server.port)).close();
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(pki.dir, { recursive: true, force: true });
  }
});

test('with an encrypted CA key the server cannot re-sign: it warns that the CRL is going stale and says what to run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-pki-enc-'));
  const passFile = join(dir, 'ca.pass');
  writeFileSync(passFile, 'a long CA passphrase\n', { mode: 0o600 });
  try {
    await ensureCertificates({ dir, users: ['alice'], passphrase: 'a long CA passphrase' });
    await writeCrl({ dir, passphrase: 'a long CA passphrase', nextUpdate: '3h' });
    const server = await startServe(['--port', '0', '--certs', dir, '--no-generate', '--db', `sqlite:${join(work, 'enc.db')}`, '--log-file', join(work, 'enc.log')]);
    try {
      const [line] = await server.waitFor(/The CRL in .* expires in [0-9]+ h.*server_crl_expired.*securechat ca crl --dir/);
      assert.match(line, /expires in 2 h/);
      assert.doesNotMatch(server.output(), /re-signed it with/);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('past its nextUpdate the CRL refuses every client with server_crl_expired (the server\'s fault, not the certificate\'s)', async () => {
  const pki: TestPki = await makeTestPki(['alice']);
  const now = Date.now();
  await writeCrl({ dir: pki.dir, now: new Date(now - 2 * 3600_000), nextUpdate: new Date(now - 3600_000) });
  const trust = TrustStore.fromPem(pki.rootPem, readFileSync(join(pki.dir, 'crl.pem'), 'utf8'));
  const chat = await startChatServer({ pki: { ...pki, trust } });
  try {
    assert.equal(chat.server.crlStatus().expired, true);
    assert.ok((chat.server.crlStatus().secondsToExpiry ?? 0) < -3000);
    // The client's own trust store holds no CRL: only the server's view is stale.
    await assert.rejects(dial({ dir: pki.dir, trust: TrustStore.fromPem(pki.rootPem) }, chat.port), (err: SecureChatError) => {
      assert.equal(err.code, 'server_crl_expired');
      assert.match(err.message, /server's certificate revocation list is out of date/);
      return true;
    });
  } finally {
    await chat.close();
    rmSync(pki.dir, { recursive: true, force: true });
  }
});

test('a certificate that expires during its session ends the session at its notAfter (not at the next minute sweep)', async () => {
  const pki = await makeTestPki(['alice']);
  const chat = await startChatServer({ pki });
  try {
    await issueCertificate({ dir: pki.dir, kind: 'client', name: 'shortlived', notAfter: new Date(Date.now() + 4000) });
    const c = await dial(pki, chat.port, 'shortlived');
    const long = await dial(pki, chat.port, 'alice');
    const [err] = (await once(c, 'close')) as [SecureChatError | undefined];
    assert.equal(err?.code, 'bad_certificate');
    assert.equal(err?.reason, 'expired');
    assert.equal(long.closed, false, 'other sessions are not touched');
    long.close();
  } finally {
    await chat.close();
  }
});

test('MySQL: --db-password-file and a percent-encoded password in the URL (with / and +) work; a wrong one names host and user', async (t) => {
  const skip = await mysqlSkip();
  if (skip) return t.skip(skip);
  const db = await createTestDatabase();
  const admin = await adminConnection();
  const user = `sc_${Math.random().toString(36).slice(2, 10)}`;
  const password = 'q8/Zx+Yw==/b64%pw';
  const pki = await makeTestPki(['alice']);
  try {
    await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    await admin.query(`CREATE USER '${user}'@'localhost' IDENTIFIED BY '${password}'`);
    for (const host of ['%', 'localhost']) await admin.query(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'${host}'`);
    const base = new URL(db.url);
    const hostPort = `${base.hostname}:${base.port || 3306}`;
    const passFile = join(work, 'db.pass');
    writeFileSync(passFile, password + '\n', { mode: 0o600 });
    const plainUrl = `mysql://${user}@${hostPort}/${db.name}`;

    // The password from a file (flag, then env), never on the command line.
    const migrated = await runCli(['db', 'migrate', '--db', plainUrl, '--db-password-file', passFile, '--json']);
    assert.equal(migrated.code, 0, migrated.stderr);
    const listed = await runCli(['user', 'list', '--json'], { env: { SECURECHAT_DB: plainUrl, SECURECHAT_DB_PASSWORD_FILE: passFile } });
    assert.equal(listed.code, 0, listed.stderr);
    const server = await startServe(['--port', '0', '--certs', pki.dir, '--no-generate', '--db', plainUrl, '--db-password-file', passFile, '--log-file', join(work, 'mysql-pw.log')]);
    try {
      const c = await dial(pki, server.port);
      await c.request('register', { password: PASSWORD });
      c.close();
      assert.ok(!server.output().includes(password), 'the password is never logged');
    } finally {
      await server.stop();
    }

    // Percent-encoded in the URL works too.
    const encoded = `mysql://${user}:${encodeURIComponent(password)}@${hostPort}/${db.name}`;
    const status = await runCli(['db', 'status', '--db', encoded, '--json']);
    assert.equal(status.code, 0, status.stderr);

    // A wrong password: the error names host, port, database and user, and not the password.
    writeFileSync(passFile, 'wrong-password\n');
    const refused = await startServe(['--port', '0', '--certs', pki.dir, '--no-generate', '--db', plainUrl, '--db-password-file', passFile, '--log-file', join(work, 'mysql-bad.log')]).then(
      () => assert.fail('the server must not start'),
      (err: Error) => err.message,
    );
    assert.match(refused, new RegExp(`Cannot open the MySQL database ${db.name} on ${hostPort.replace('.', '\\.')} as user ${user}`));
    assert.ok(!refused.includes('wrong-password'));
    const cliRefused = await runCli(['user', 'list', '--db', plainUrl, '--db-password-file', passFile]);
    assert.equal(cliRefused.code, 1);
    assert.match(cliRefused.stderr, new RegExp(`as user ${user}`));
  } finally {
    for (const host of ['%', 'localhost']) await admin.query(`DROP USER IF EXISTS '${user}'@'${host}'`).catch(() => undefined);
    await admin.end();
    await db.dispose();
    rmSync(pki.dir, { recursive: true, force: true });
  }
});

test('a database that cannot be reached at start is named with host, port, database and user (and no password)', async () => {
  const pki = await makeTestPki(['alice']);
  const passFile = join(work, 'unreachable.pass');
  writeFileSync(passFile, 's3cr/t+pw\n', { mode: 0o600 });
  try {
    const message = await startServe(
      ['--port', '0', '--certs', pki.dir, '--no-generate', '--db', 'mysql://chatter@127.0.0.1:1/chatdb', '--db-password-file', passFile, '--log-file', join(work, 'unreachable.log')],
      { timeoutMs: 60_000 },
    ).then(
      () => assert.fail('the server must not start'),
      (err: Error) => err.message,
    );
    assert.match(message, /storage_unavailable/);
    assert.match(message, /Cannot open the MySQL database chatdb on 127\.0\.0\.1:1 as user chatter/);
    assert.ok(!message.includes('s3cr/t+pw'));
    const status = await runCli(['db', 'status', '--db', 'mysql://chatter@127.0.0.1:1/chatdb', '--db-password-file', passFile]);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /Cannot open the MySQL database chatdb on 127\.0\.0\.1:1 as user chatter/);
  } finally {
    rmSync(pki.dir, { recursive: true, force: true });
  }
});
