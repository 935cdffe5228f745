/**
 * The admin listener of a real `securechat serve` process, read with a real HTTP client:
 * `--admin-port 0` logs the address it got; /healthz reports storage and CRL; /metrics counts the
 * handshakes, requests and messages two real `securechat chat` processes cause; `securechat status`
 * prints them; stdout (not a terminal) carries JSON lines with pid and hostname and no colour.
 * Also `serve --check-config` (0 for good certificates, 2 for a key that is not the server's) and
 * `--log-level bogus` (refused, exit 2).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { copyFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { TEST_PASSWORD } from '../helpers/chat-server.js';

const work = mkdtempSync(join(tmpdir(), 'securechat-admin-'));
const certs = join(work, 'certs');
let server: ChildProcess;
let output = '';
let chatPort = 0;
let adminUrl = '';

function waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = pattern.exec(output);
      if (m) resolve(m);
      return Boolean(m);
    };
    if (check()) return;
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in: ${output}`)), timeoutMs);
    const onData = (): void => {
      if (check()) {
        clearTimeout(timer);
        server.stdout?.off('data', onData);
      }
    };
    server.stdout?.on('data', onData);
  });
}

function get(path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(adminUrl + path, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

/** The value of one sample line of the Prometheus text, 0 when the series does not exist yet. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

before(async () => {
  server = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src/cli/index.ts'), 'serve', '--port', '0', '--admin-port', '0', '--certs', certs, '--db', `sqlite:${join(work, 'chat.db')}`, '--log-file', 'off'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '' } },
  );
  server.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  server.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  chatPort = Number((await waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
  adminUrl = (await waitFor(/admin listening on (http:\/\/127\.0\.0\.1:\d+)/))[1];
});

after(async () => {
  if (server.exitCode === null) {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  rmSync(work, { recursive: true, force: true });
});

test('--admin-port 0: the admin listener is on loopback and its address is logged', () => {
  assert.match(adminUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
});

test('stdout that is not a terminal gets JSON lines with pid and hostname, and no colour codes', () => {
  const lines = output.split('\n').filter((l) => l.trim());
  assert.ok(lines.length >= 3);
  // eslint-disable-next-line no-control-regex -- the test looks for ANSI colour codes
  assert.doesNotMatch(output, /\x1b\[/);
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.pid, server.pid);
    assert.equal(entry.hostname, hostname());
    assert.equal(typeof entry.timestamp, 'string');
    assert.ok(['info', 'warn', 'error', 'debug'].includes(String(entry.level)));
  }
});

test('/healthz: storage reachable and the CRL current, as JSON with status 200', async () => {
  const res = await get('/healthz');
  assert.equal(res.status, 200);
  assert.match(res.type, /application\/json/);
  const health = JSON.parse(res.body) as { status: string; version: string; checks: Record<string, { ok: boolean; secondsToExpiry?: number }> };
  assert.equal(health.status, 'ok');
  assert.match(health.version, /^\d+\.\d+\.\d+/);
  assert.equal(health.checks.storage.ok, true);
  assert.equal(health.checks.crl.ok, true);
  // A fresh CRL is good for 7 days.
  assert.ok(health.checks.crl.secondsToExpiry! > 6 * 86400 && health.checks.crl.secondsToExpiry! <= 7 * 86400);
  assert.equal((await get('/nope')).status, 404);
});

test('/metrics counts what real clients did: handshakes ok and failed, requests by type and code, stored messages', async () => {
  const before = (await get('/metrics')).body;
  const conn = (user: string) => ['chat', '--port', String(chatPort), '--server-name', 'localhost', '--certs', certs, '--user', user, '--json'];
  const env = { SECURECHAT_PASSWORD: TEST_PASSWORD };
  const bob = await runCli([...conn('bob'), '--register'], { input: '', env });
  assert.equal(bob.code, 0, bob.stderr);
  const alice = await runCli([...conn('alice'), '--register'], { input: '/msg bob hello from alice\n/msg nobody-here hi\n', env });
  assert.equal(alice.code, 1, 'one command (the DM to an unknown user) failed');

  // A client that sends garbage instead of a client_hello: a failed handshake.
  const raw = net.connect(chatPort, '127.0.0.1');
  await once(raw, 'connect');
  raw.end(Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5]));
  raw.on('error', () => undefined);
  raw.resume();
  await once(raw, 'close');

  const res = await get('/metrics');
  assert.equal(res.status, 200);
  assert.match(res.type, /^text\/plain; version=0\.0\.4/);
  const text = res.body;
  const delta = (series: string): number => sample(text, series) - sample(before, series);
  assert.equal(delta('securechat_handshakes_total{result="ok",reason=""}'), 2);
  assert.ok(text.split('\n').some((l) => l.startsWith('securechat_handshakes_total{result="failed"')), 'a failed handshake is counted with its reason');
  assert.equal(delta('securechat_requests_total{type="register",code="ok"}'), 2);
  assert.equal(delta('securechat_requests_total{type="dm",code="ok"}'), 1);
  assert.equal(delta('securechat_requests_total{type="dm",code="unknown_user"}'), 1);
  assert.equal(delta('securechat_messages_stored_total{kind="text"}'), 1);
  assert.ok(delta('securechat_storage_commit_seconds_count{op="appendMessage"}') >= 1);
  assert.ok(sample(text, 'securechat_crl_seconds_to_expiry') > 6 * 86400);
  assert.ok(sample(text, 'process_resident_memory_bytes') > 10 * 1024 * 1024);
  assert.ok(text.includes('securechat_send_queue_bytes '));
  assert.ok(text.includes('securechat_file_memory_bytes{use="transfers"} '));
  assert.ok(text.includes('securechat_file_memory_bytes{use="recent_cache"} '));
  assert.ok(text.includes('securechat_spool_bytes '));
  assert.ok(text.includes('securechat_sessions{state="logged_in"} '));
});

test('securechat status prints health and metrics for humans, and --json; exit 0 when healthy', async () => {
  const port = adminUrl.split(':').at(-1)!;
  const human = await runCli(['status', '--admin-port', port]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /: healthy, up /);
  assert.match(human.stdout, /storage\s+ok: reachable/);
  assert.match(human.stdout, /handshakes\s+ok [1-9]/);
  assert.match(human.stdout, /errors: .*unknown_user 1/);
  assert.match(human.stdout, /rss\s+\d+\.\d MB/);
  const json = await runCli(['status', '--admin-port', port, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { ok: boolean; health: { status: string }; metrics: { name: string }[] };
  assert.equal(doc.ok, true);
  assert.equal(doc.health.status, 'ok');
  assert.ok(doc.metrics.some((m) => m.name === 'securechat_requests_total'));
});

test('securechat status on a port nobody listens on: exit 1 with connect_failed', async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const free = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const res = await runCli(['status', '--admin-port', String(free)]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /connect_failed/);
  assert.equal((await runCli(['status'], { env: { SECURECHAT_ADMIN_PORT: '' } })).code, 2, 'no port is a usage error');
});

test('serve --check-config: 0 for the generated certificates, 2 when the key is not the server\'s', async () => {
  const good = await runCli(['serve', '--check-config', '--certs', certs, '--db', 'sqlite:x.db']);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /ok\s+server certificate\s+localhost, valid for serverAuth, key matches/);
  const broken = join(work, 'broken-certs');
  cpSync(certs, broken, { recursive: true });
  copyFileSync(join(certs, 'alice_key.pem'), join(broken, 'server_key.pem'));
  const bad = await runCli(['serve', '--check-config', '--certs', broken]);
  assert.equal(bad.code, 2);
  assert.match(bad.stdout, /FAIL\s+server certificate\s+\S*broken-certs\/server_key\.pem is not the key of \S*broken-certs\/server_cert\.pem/);
  const badLevel = await runCli(['serve', '--check-config', '--log-level', 'bogus']);
  assert.equal(badLevel.code, 2);
  assert.match(badLevel.stderr, /"logLevel" must be one of error, warn, info, debug/);
});
