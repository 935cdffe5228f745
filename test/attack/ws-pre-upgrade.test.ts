/**
 * The WebSocket port before the upgrade, against the real `securechat serve --ws-port 0`: a client
 * that opens many sockets and never finishes TLS (or its HTTP request) is held to the per-address
 * handshake allowance — the sockets past it are closed at once — and cannot exhaust the process's
 * file descriptors; another address still loads the page and logs in over WebSocket meanwhile.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatClient } from '../../src/client/client.js';
import { wsDialer } from '../../src/client/ws-dial.js';
import { loadTrust } from '../../src/server/start.js';
import { makeTestPki, TEST_PASSWORD, userIdentity, type TestPki } from '../helpers/chat-server.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';

const PER_ADDRESS = 6;
let pki: TestPki;
let data: string;
let serve: ServeProcess;
let wsPort: number;

before(async () => {
  pki = await makeTestPki(['alice']);
  data = mkdtempSync(join(tmpdir(), 'sc-ws-gate-'));
  serve = await startServe(['--port', '0', '--ws-port', '0', '--certs', pki.dir, '--db', `sqlite:${join(data, 'chat.db')}`, '--log-file', 'off', '--log-format', 'text'], {
    env: { SECURECHAT_MAX_HANDSHAKES_PER_IP: String(PER_ADDRESS), SECURECHAT_HANDSHAKE_TIMEOUT_MS: '60000' },
  });
  wsPort = Number((await serve.waitFor(/WebSocket \(\/ws\) on https:\/\/[^\s]+:(\d+)\//))[1]);
});

after(async () => {
  await serve?.stop();
  rmSync(data, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

/** A socket that connects and then says nothing; resolves with it once connected. */
function silentSocket(host: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port: wsPort }, () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

test('sockets that never finish TLS: past the per-address allowance they are closed at once; another address loads the page and logs in', async () => {
  const attacker = await Promise.all(Array.from({ length: PER_ADDRESS + 10 }, () => silentSocket('127.0.0.1')));
  const closed = new Set<net.Socket>();
  for (const s of attacker) s.once('close', () => closed.add(s));
  // Event-driven: wait until the excess has been closed by the server (never a fixed sleep).
  const deadline = Date.now() + 30_000;
  while (closed.size < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(closed.size, 10, `closed ${closed.size} of the ${PER_ADDRESS + 10} silent sockets`);
  assert.ok(attacker.slice(0, PER_ADDRESS).every((s) => !closed.has(s)), 'the first ones within the allowance stay open (until the TLS handshake timeout)');
  assert.match(serve.output(), /connection closed before TLS \(too many unfinished connections\)/);

  // Another address (dialling from 127.0.0.2) is not affected.
  const rootPem = readFileSync(join(pki.dir, 'root_ca.pem'), 'utf8');
  const page = await new Promise<{ status: number; csp: string }>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', localAddress: '127.0.0.2', port: wsPort, path: '/', ca: rootPem, servername: 'localhost' }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, csp: String(res.headers['content-security-policy'] ?? '') });
      })
      .on('error', reject);
  });
  assert.ok(page.status === 200 || page.status === 503, `page status ${page.status}`);
  assert.match(page.csp, /default-src 'none'/);
  const alice = await SecureChatClient.connect({
    host: '127.0.0.1', port: wsPort, serverName: 'localhost', identity: userIdentity(pki, 'alice'), trust: loadTrust(pki.dir).trust,
    dial: wsDialer({ caPem: rootPem, serverName: 'localhost', localAddress: '127.0.0.2' }),
  });
  await alice.request('register', { password: TEST_PASSWORD });
  alice.close();

  // The allowance comes back when the held sockets go (the server sees the closes a moment later).
  for (const s of attacker) s.destroy();
  let admitted = false;
  for (let i = 0; i < 50 && !admitted; i++) {
    const again = await silentSocket('127.0.0.1');
    admitted = await new Promise<boolean>((resolve) => {
      again.once('close', () => resolve(false));
      setTimeout(() => resolve(!again.destroyed), 300);
    });
    again.destroy();
  }
  assert.equal(admitted, true, 'a new socket from the attacker address is admitted once its others closed');
});
