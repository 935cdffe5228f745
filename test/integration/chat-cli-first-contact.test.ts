/**
 * Issue 12, first contact: the real `securechat chat` says what to do next when the port is not a
 * SecureChat server, the server certificate is for another name, our certificate names someone
 * else, or --register meets an existing account; and with --json these failures are `error`
 * events like every other line (one envelope).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { startChatServer, TEST_PASSWORD, type TestChatServer } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';

let srv: TestChatServer;
let notOurs: net.Server;
let notOursPort: number;
const notOursSockets = new Set<net.Socket>();
const env = { SECURECHAT_PASSWORD: TEST_PASSWORD, NO_COLOR: '1' };

before(async () => {
  srv = await startChatServer();
  for (const u of ['bob', 'carol']) (await srv.login(u)).close();
  // Something else on a port: it greets like a MySQL server does (a length-prefixed packet first).
  notOurs = net.createServer((s) => {
    notOursSockets.add(s);
    s.on('close', () => notOursSockets.delete(s));
    s.on('error', () => undefined);
    s.end(Buffer.concat([Buffer.from([0x4a, 0x00, 0x00, 0x00, 0x0a]), Buffer.from('5.5.5-10.11.6-MariaDB\0'), Buffer.alloc(60, 1)]));
  });
  await new Promise<void>((r) => notOurs.listen(0, '127.0.0.1', r));
  notOursPort = (notOurs.address() as net.AddressInfo).port;
});

after(async () => {
  for (const sock of notOursSockets) sock.destroy();
  await new Promise<void>((r) => notOurs.close(() => r()));
  await srv.close();
});

const conn = (user: string, port = srv.port): string[] => ['chat', '--port', String(port), '--server-name', 'localhost', '--certs', srv.pki.dir, '--user', user];

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a port that is not a SecureChat server is named as such', async () => {
  const r = await runCli(conn('bob', notOursPort), { env, input: '' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${notOursPort} is not a SecureChat server \\(it answered something else\\)`));
  assert.doesNotMatch(r.stderr, /frame_too_large: Frame exceeds/);
  const j = await runCli([...conn('bob', notOursPort), '--json'], { env, input: '' });
  assert.equal(j.code, 1);
  const [line, ...rest] = jsonLines(j.stdout);
  assert.deepEqual(rest, []);
  assert.equal(line.event, 'error');
  assert.equal(line.phase, 'connect');
  assert.equal(line.code, 'connect_failed');
  assert.equal(line.reason, 'not_securechat');
});

test('nothing listening: says so and what to check', async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const r = await runCli(conn('bob', port), { env, input: '' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`Nothing is listening on 127\\.0\\.0\\.1:${port}.*--host and --port`));
});

test('a server certificate for another name shows the names it carries', async () => {
  const args = conn('bob').filter((a) => a !== 'localhost' && a !== '--server-name');
  const r = await runCli([...args, '--server-name', 'chat.example.org'], { env, input: '' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^\[Client\] Refusing server certificate \(name_mismatch\): it is for localhost, 127\.0\.0\.1.*not for "chat\.example\.org"; if that is the server you meant, pass --server-name localhost\.$/m);
});

test("a certificate for carol used as alice: log in as carol or use another certificate", async () => {
  const dir = srv.pki.dir;
  const args = ['chat', '--port', String(srv.port), '--server-name', 'localhost', '--ca', join(dir, 'root_ca.pem'), '--cert', join(dir, 'carol_cert.pem'), '--key', join(dir, 'carol_key.pem'), '--user', 'alice'];
  const r = await runCli(args, { env, input: '' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Your certificate is for 'carol'; log in as carol or use another certificate\./);
});

test('--register for an existing account: drop --register; --json gives a login error event', async () => {
  const r = await runCli([...conn('bob'), '--register'], { env, input: '' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Account bob exists — drop --register/);
  const j = await runCli([...conn('bob'), '--register', '--json'], { env, input: '' });
  assert.equal(j.code, 1);
  const lines = jsonLines(j.stdout);
  assert.equal(lines.length, 1, j.stdout);
  assert.deepEqual([lines[0].event, lines[0].phase, lines[0].code], ['error', 'login', 'exists']);
  assert.equal('ok' in lines[0], false, 'no second envelope shape');
});

test('--json: a wrong password is an error event, not {"ok":false}', async () => {
  const j = await runCli([...conn('bob'), '--json'], { env: { ...env, SECURECHAT_PASSWORD: 'not the password at all' }, input: '' });
  assert.equal(j.code, 1);
  const lines = jsonLines(j.stdout);
  assert.deepEqual(
    lines.map((l) => [l.event, l.phase, l.code]),
    [['error', 'login', 'auth_failed']],
  );
  const usage = await runCli(['chat', '--port', String(srv.port), '--certs', srv.pki.dir, '--json'], { env, input: '' });
  assert.equal(usage.code, 2);
  assert.deepEqual(
    jsonLines(usage.stdout).map((l) => [l.event, l.code]),
    [['error', 'usage']],
  );
});
