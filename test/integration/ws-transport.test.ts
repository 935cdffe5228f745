/**
 * The WebSocket transport: the same server core, handshake and router as TCP, reached over wss://
 * with our CA's server certificate. A WebSocket client and a TCP client exchange DMs; the listener
 * enforces one binary message per frame and the frame limit with readable close codes, and serves
 * the web client with strict headers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import https from 'node:https';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SecureChatClient } from '../../src/client/client.js';
import { wsDialer } from '../../src/client/ws-dial.js';
import { silentLogger } from '../../src/log.js';
import { WS_CLOSE, WS_REASON } from '../../src/protocol/ws-duplex.js';
import { listenWebSocket, type WsTransport } from '../../src/server/transports/ws.js';
import { CONTENT_SECURITY_POLICY } from '../../src/server/transports/static-files.js';
import { nextPush, startChatServer, TEST_PASSWORD, userIdentity, type TestChatServer } from '../helpers/chat-server.js';

const MAX_FRAME = 64 * 1024;
let srv: TestChatServer;
let ws: WsTransport;
let webRoot: string;

before(async () => {
  srv = await startChatServer({ limits: { maxFrameSize: MAX_FRAME } });
  webRoot = mkdtempSync(join(tmpdir(), 'sc-webroot-'));
  mkdirSync(join(webRoot, 'assets'));
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>SecureChat</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(webRoot, 'assets', 'app.js'), 'export {};');
  writeFileSync(join(webRoot, '.secret'), 'no');
  ws = await listenWebSocket(srv.server, { host: '127.0.0.1', port: 0, maxFrameSize: MAX_FRAME, certsDir: srv.pki.dir, behindProxy: false, webRoot, log: silentLogger() });
});

after(async () => {
  await ws.close();
  await srv.close();
  rmSync(webRoot, { recursive: true, force: true });
});

async function wsLogin(user: string): Promise<SecureChatClient> {
  const client = await SecureChatClient.connect({
    host: '127.0.0.1',
    port: ws.port,
    serverName: 'localhost',
    identity: userIdentity(srv.pki, user),
    trust: srv.pki.trust,
    dial: wsDialer({ caPem: srv.pki.rootPem, serverName: 'localhost', maxFrameSize: MAX_FRAME }),
  });
  await client.request('register', { password: TEST_PASSWORD });
  return client;
}

/** TLS to the listener trusting our root; `servername` passes through to tls.connect. */
function tlsOptions(): WebSocket.ClientOptions {
  return { ca: srv.pki.rootPem, ...{ servername: 'localhost' } };
}

/** A raw WebSocket to the listener, trusting our root. */
async function rawSocket(headers: Record<string, string> = {}): Promise<WebSocket> {
  const sock = new WebSocket(`wss://127.0.0.1:${ws.port}/ws`, { ...tlsOptions(), headers });
  await once(sock, 'open');
  return sock;
}

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port: ws.port, path, ca: srv.pki.rootPem, servername: 'localhost', headers }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

test('a WebSocket client and a TCP client log in and exchange DMs', async () => {
  const alice = await wsLogin('alice');
  const bob = await srv.login('bob');
  const toBob = nextPush<{ text: string; from: string }>(bob, 'message');
  await alice.request('dm', { to: 'bob', text: 'over a websocket' });
  const got = await toBob;
  assert.equal(got.text, 'over a websocket');
  const toAlice = nextPush<{ text: string }>(alice, 'message');
  await bob.request('dm', { to: 'alice', text: 'over tcp' });
  assert.equal((await toAlice).text, 'over tcp');
  alice.close();
  bob.close();
  await once(alice, 'close');
});

test('a text message is refused with 1003 and a coded reason', async () => {
  const sock = await rawSocket();
  sock.send('{"type":"client_hello"}');
  const [code, reason] = (await once(sock, 'close')) as [number, Buffer];
  assert.equal(code, WS_CLOSE.unsupportedData);
  assert.equal(reason.toString(), WS_REASON.textMessage);
});

test('a binary message that is not exactly one frame is refused with 1002', async () => {
  const sock = await rawSocket();
  // Header announces 10 bytes, the message carries 3.
  sock.send(Buffer.from([0, 0, 0, 10, 1, 2, 3]));
  const [code, reason] = (await once(sock, 'close')) as [number, Buffer];
  assert.equal(code, WS_CLOSE.protocolError);
  assert.equal(reason.toString(), WS_REASON.notOneFrame);
});

test('a message above the frame limit is refused with 1009 before it is buffered', async () => {
  const sock = await rawSocket();
  const big = Buffer.alloc(MAX_FRAME + 5 + 4);
  big.writeUInt32BE(big.length - 4, 0);
  sock.on('error', () => undefined);
  sock.send(big);
  const [code] = (await once(sock, 'close')) as [number, Buffer];
  assert.equal(code, WS_CLOSE.messageTooBig);
});

test('a page from another origin cannot open a session', async () => {
  const sock = new WebSocket(`wss://127.0.0.1:${ws.port}/ws`, { ...tlsOptions(), origin: 'https://evil.example' });
  const [err] = (await once(sock, 'error')) as [Error];
  assert.match(err.message, /403/);
});

test('the web client is served over HTTPS with strict headers; dotfiles and traversal are not', async () => {
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(page.body, /SecureChat/);
  assert.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  assert.doesNotMatch(String(page.headers['content-security-policy']), /unsafe-inline/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.headers['referrer-policy'], 'no-referrer');
  assert.match(String(page.headers['strict-transport-security']), /max-age=/);
  const js = await get('/assets/app.js');
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /^text\/javascript/);
  // Neither a dotfile nor a path outside the root is ever read (the app page answers instead).
  const dot = await get('/.secret');
  assert.notEqual(dot.body, 'no');
  assert.match(dot.body, /SecureChat/);
  const traversal = await get('/%2e%2e/%2e%2e/etc/passwd');
  assert.doesNotMatch(traversal.body, /root:/);
  assert.equal((await get('/assets/missing.js')).status, 404);
  // An app route without an extension reloads the page.
  assert.equal((await get('/chat/bob')).status, 200);
});
