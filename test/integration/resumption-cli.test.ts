/**
 * Issue 15 with the shipped processes: a real `securechat serve` and a real `securechat chat
 * --listen --json`; the connection drops (a proxy cuts it) and the chat process reconnects with a
 * resumed handshake — the server logs the session as resumed, no second password login happens,
 * and a message sent after the drop is shown. The log holds no ticket secret.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatClient } from '../../src/client/chat-client.js';
import { makeTestPki, TEST_PASSWORD, userIdentity, type TestPki } from '../helpers/chat-server.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { CLI_ENTRY } from '../helpers/tmux.js';

let pki: TestPki;
let work: string;
let server: ServeProcess;
let proxy: TcpProxy;
let logFile: string;

before(async () => {
  pki = await makeTestPki(['alice', 'bob']);
  work = mkdtempSync(join(tmpdir(), 'sc-resume-cli-'));
  logFile = join(work, 'server.log');
  server = await startServe(['--port', '0', '--certs', pki.dir, '--no-generate', '--db', `sqlite:${join(work, 'chat.db')}`, '--log-file', logFile, '--log-format', 'text']);
  proxy = new TcpProxy(server.port);
  await proxy.start();
});

after(async () => {
  await proxy?.close();
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function logLines(): Record<string, unknown>[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('the chat process reconnects after the connection drops with a resumed handshake, logged in without a password round', async () => {
  const lib = (user: string) => ChatClient.connect({ host: '127.0.0.1', port: server.port, serverName: 'localhost', identity: userIdentity(pki, user), trust: pki.trust });
  const alice = await lib('alice');
  await alice.register(TEST_PASSWORD);
  const bobSetup = await lib('bob');
  await bobSetup.register(TEST_PASSWORD);
  bobSetup.close();

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI_ENTRY, 'chat', '--port', String(proxy.port), '--server-name', 'localhost', '--certs', pki.dir, '--user', 'bob', '--json', '--listen'],
    { env: { ...process.env, SECURECHAT_PASSWORD: TEST_PASSWORD, NO_COLOR: '1' } },
  );
  child.stdin.end();
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  const lines = (): Record<string, unknown>[] =>
    out
      .slice(0, out.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const bobSessions = (): Record<string, unknown>[] => logLines().filter((l) => l.message === 'session started' && l.user === 'bob');
  const bobLogins = (): number => logLines().filter((l) => l.message === 'login ok' && l.username === 'bob').length;
  try {
    await until(() => lines().some((l) => l.event === 'caught_up'), `caught_up; stdout ${out} stderr ${err}`);
    const before = await alice.dm('bob', 'before the drop');
    await until(() => lines().some((l) => l.event === 'message' && l.id === before.id), 'the first message');
    // The login's ticket batch has been sent by now (it went out before the login response).
    await until(() => bobLogins() >= 1, 'the CLI login in the server log');
    const loginsBefore = bobLogins();
    const sessionsBefore = bobSessions().length;

    proxy.cut();
    await until(() => bobSessions().length > sessionsBefore, `a new session for bob; stderr ${err}`);
    const resumedSession = bobSessions().at(-1)!;
    assert.equal(resumedSession.resumed, true, `the reconnect resumed: ${JSON.stringify(resumedSession)}`);
    const after = await alice.dm('bob', 'after the drop');
    await until(() => lines().some((l) => l.event === 'message' && l.id === after.id), `the message after the drop; stdout ${out}`);
    assert.equal(bobLogins(), loginsBefore, 'no password login on the resumed reconnect');
    const shown = lines().filter((l) => l.event === 'message').map((l) => l.text);
    assert.deepEqual(shown, ['before the drop', 'after the drop'], 'each once');
  } finally {
    child.kill('SIGTERM');
    alice.close();
  }
  assert.equal(await exited, 0, err);
  const log = readFileSync(logFile, 'utf8');
  assert.doesNotMatch(log, /"psk"|ticket_key|res_master/i, 'no ticket secret in the log');
});

/** One `securechat chat --json < /dev/null` run for bob: prints what waits, then exits. */
async function runOnce(args: string[], env: Record<string, string> = {}): Promise<{ code: number; lines: Record<string, unknown>[]; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, 'chat', '--port', String(server.port), '--server-name', 'localhost', '--certs', pki.dir, '--user', 'bob', '--json', ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  child.stdin.end();
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
  const lines = out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, lines, err };
}

test('--ticket-file: the next run resumes logged in (no password round), shows what was sent meanwhile; the file is 0600 and refused when others can read it', async () => {
  const alice = await ChatClient.connect({ host: '127.0.0.1', port: server.port, serverName: 'localhost', identity: userIdentity(pki, 'alice'), trust: pki.trust });
  await alice.login(TEST_PASSWORD);
  const ticketFile = join(work, 'bob.tickets');
  const bobLogins = (): number => logLines().filter((l) => l.message === 'login ok' && l.username === 'bob').length;
  try {
    const first = await runOnce(['--ticket-file', ticketFile], { SECURECHAT_PASSWORD: TEST_PASSWORD });
    assert.equal(first.code, 0, first.err);
    assert.equal(first.lines[0]?.event, 'ready');
    assert.equal(first.lines[0]?.resumed, false);
    assert.equal(statSync(ticketFile).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(ticketFile, 'utf8')) as { servers: { tickets: { login: unknown }[] }[] };
    assert.ok(saved.servers[0]!.tickets.length >= 1 && saved.servers[0]!.tickets.every((t) => t.login !== null), 'tickets that carry the login');

    const meanwhile = await alice.dm('bob', 'while bob was away');
    const loginsBefore = bobLogins();
    // No password at all this time: the saved session carries the login.
    const second = await runOnce(['--ticket-file', ticketFile], { SECURECHAT_PASSWORD: '' });
    assert.equal(second.code, 0, second.err);
    assert.deepEqual([second.lines[0]?.event, second.lines[0]?.resumed], ['ready', true], JSON.stringify(second.lines));
    assert.deepEqual(
      second.lines.filter((l) => l.event === 'message').map((l) => [l.id, l.text]),
      [[meanwhile.id, 'while bob was away']],
    );
    assert.equal(bobLogins(), loginsBefore, 'no password login on the resumed run');
    assert.doesNotMatch(second.err, /warning/);

    // A damaged file is a lost cache: reported, replaced, and the run logs in with its password.
    writeFileSync(ticketFile, '{not json', { mode: 0o600 });
    const third = await runOnce(['--ticket-file', ticketFile], { SECURECHAT_PASSWORD: TEST_PASSWORD });
    assert.equal(third.code, 0, third.err);
    assert.match(third.err, /could not be used .* it will be replaced/);
    assert.equal(third.lines[0]?.resumed, false);
    assert.ok(JSON.parse(readFileSync(ticketFile, 'utf8')).servers.length === 1, 'rewritten');

    chmodSync(ticketFile, 0o644);
    const refused = await runOnce(['--ticket-file', ticketFile], { SECURECHAT_PASSWORD: TEST_PASSWORD });
    assert.equal(refused.code, 2);
    assert.match(JSON.stringify(refused.lines), /readable by others .*chmod 600/);
  } finally {
    alice.close();
  }
});
