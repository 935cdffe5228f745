/**
 * The WebSocket transport: the same server core, handshake and router as TCP, reached over wss://
 * with our CA's server certificate. A WebSocket client and a TCP client exchange DMs; the listener
 * enforces one binary message per frame and the frame limit with readable close codes, and serves
 * the web client with strict headers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SecureChatClient } from '../../src/client/client.js';
import type { SecureChatError } from '../../src/errors.js';
import { wsDialer } from '../../src/client/ws-dial.js';
import { silentLogger } from '../../src/log.js';
import { WS_CLOSE, WS_REASON } from '../../src/protocol/ws-duplex.js';
import { listenWebSocket, type WsTransport } from '../../src/server/transports/ws.js';
import { CONTENT_SECURITY_POLICY } from '../../src/server/transports/static-files.js';
import { nextPush, startChatServer, TEST_PASSWORD, userIdentity, type TestChatServer } from '../helpers/chat-server.js';

/** Above the handshake's 64 KiB bound, so the two bounds can be told apart. */
const MAX_FRAME = 256 * 1024;
let srv: TestChatServer;
let ws: WsTransport;
let webRoot: string;
/** Every stream the listener handed to the server, newest last (to read why it ended). */
const streams: Duplex[] = [];

before(async () => {
  srv = await startChatServer({ limits: { maxFrameSize: MAX_FRAME } });
  webRoot = mkdtempSync(join(tmpdir(), 'sc-webroot-'));
  mkdirSync(join(webRoot, 'assets'));
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>SecureChat</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(webRoot, 'assets', 'app.js'), 'export {};');
  writeFileSync(join(webRoot, '.secret'), 'no');
  const recording = {
    handle(stream: Duplex, ip?: string) {
      streams.push(stream);
      srv.server.handle(stream, ip);
    },
  };
  ws = await listenWebSocket(recording, { host: '127.0.0.1', port: 0, maxFrameSize: MAX_FRAME, certsDir: srv.pki.dir, behindProxy: false, webRoot, log: silentLogger() });
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

/** Why the server's side of the newest WebSocket session ended (the code its stream was destroyed with). */
async function lastStreamError(): Promise<string | undefined> {
  const stream = streams[streams.length - 1];
  while (!stream.destroyed) await new Promise((r) => setTimeout(r, 10));
  return (stream.errored as SecureChatError | null)?.code;
}

test('before the handshake completes a message above 64 KiB + 4 is refused with 1009 (handshake_frame_too_large)', async () => {
  const sock = await rawSocket();
  const hello = Buffer.alloc(4 + 65 * 1024, 0x20);
  hello.writeUInt32BE(hello.length - 4, 0);
  sock.on('error', () => undefined);
  sock.send(hello);
  const [code] = (await once(sock, 'close')) as [number, Buffer];
  assert.equal(code, WS_CLOSE.messageTooBig);
  assert.equal(await lastStreamError(), 'handshake_frame_too_large');
});

test('a WebSocket frame header announcing 4 GiB is refused with 1009 from the header alone', async () => {
  const sock = tls.connect({ host: '127.0.0.1', port: ws.port, ca: srv.pki.rootPem, servername: 'localhost' });
  await once(sock, 'secureConnect');
  sock.write(
    'GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let got = Buffer.alloc(0);
  const upgraded = (): boolean => got.indexOf('\r\n\r\n') >= 0;
  sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  while (!upgraded()) await once(sock, 'data');
  assert.match(got.toString('latin1'), /^HTTP\/1\.1 101/);
  // FIN + binary, masked, 64-bit length 2^32, a mask key; no payload byte follows.
  const header = Buffer.alloc(14);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(1n << 32n, 2);
  randomBytes(4).copy(header, 10);
  sock.write(header);
  await once(sock, 'close');
  // The server's close frame follows the HTTP response: 0x88, length, then the 2-byte close code.
  const frame = got.subarray(got.indexOf('\r\n\r\n') + 4);
  assert.equal(frame[0], 0x88);
  assert.equal(frame.readUInt16BE(2), WS_CLOSE.messageTooBig);
  assert.equal(await lastStreamError(), 'handshake_frame_too_large');
});

test('after the handshake the record bound applies: a 100 KiB request passes the WebSocket limit', async () => {
  const alice = await wsLogin('carol');
  const refused = await alice.request('no_such_request', { pad: 'x'.repeat(100 * 1024) }).then(
    () => 'ok',
    (err: SecureChatError) => err.code,
  );
  // Answered by the router (the session lives on), not closed by the transport.
  assert.notEqual(refused, 'connection_closed');
  assert.equal(alice.closed, false);
  const echo = await alice.request('who');
  assert.ok(echo);
  alice.close();
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
