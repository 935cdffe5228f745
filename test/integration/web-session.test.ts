/**
 * The web client's connection code (src/web/lib/session.ts: the async handshake over WebCrypto and
 * a WebSocket frame link, the server chain checked by pki/web-verify.ts) against a real server's
 * WebSocket listener, from Node (`ws` standing in for the browser's WebSocket; the same code runs
 * in Chromium in test/browser/). It talks to a TCP client, and refuses a server it must not trust.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import WebSocket from 'ws';
import { silentLogger } from '../../src/log.js';
import { webCrypto } from '../../src/protocol/crypto/webcrypto.js';
import type { BrowserSocket, FrameLink } from '../../src/protocol/frame-link.js';
import { clientHandshakeAsync } from '../../src/protocol/handshake-client-async.js';
import { readPemCertificates } from '../../src/pki/pem.js';
import { listenWebSocket, type WsTransport } from '../../src/server/transports/ws.js';
import { WebSession } from '../../src/web/lib/session.js';
import { makeRoot } from '../helpers/pki-fixtures.js';
import { nextPush, startChatServer, TEST_PASSWORD, type TestChatServer } from '../helpers/chat-server.js';

let srv: TestChatServer;
let ws: WsTransport;

before(async () => {
  srv = await startChatServer();
  ws = await listenWebSocket(srv.server, { host: '127.0.0.1', port: 0, maxFrameSize: 1024 * 1024, certsDir: srv.pki.dir, behindProxy: false, webRoot: null, log: silentLogger() });
});

after(async () => {
  await ws.close();
  await srv.close();
});

async function webLogin(user: string, roots?: Uint8Array[], serverName = 'localhost'): Promise<WebSession> {
  const provider = webCrypto();
  const pkcs8 = createPrivateKey(readFileSync(join(srv.pki.dir, `${user}_key.pem`))).export({ format: 'der', type: 'pkcs8' });
  const session = await WebSession.connect({
    makeSocket: () => new WebSocket(`wss://127.0.0.1:${ws.port}/ws`, { ca: srv.pki.rootPem, ...{ servername: 'localhost' } }) as unknown as BrowserSocket,
    provider,
    chain: readPemCertificates(readFileSync(join(srv.pki.dir, `${user}_cert.pem`), 'utf8')).map((b) => new Uint8Array(b)),
    privateKey: await provider.importSigningKey(pkcs8),
    roots: roots ?? readPemCertificates(srv.pki.rootPem).map((b) => new Uint8Array(b)),
    serverName,
  });
  return session;
}

test('the web session registers, exchanges DMs and a binary record with a TCP client', async () => {
  const web = await webLogin('alice');
  const pushes: Array<{ type: string; [k: string]: unknown }> = [];
  web.onPush = (msg) => pushes.push(msg);
  web.start();
  assert.match(web.server.subject, /localhost|server/i);
  const me = await web.request<{ user: { username: string } }>('register', { password: TEST_PASSWORD });
  assert.equal(me.user.username, 'alice');
  const bob = await srv.login('bob');
  const got = nextPush<{ text: string; from: string }>(bob, 'message');
  await web.request('dm', { to: 'bob', text: 'hello from the browser code' });
  assert.equal((await got).text, 'hello from the browser code');
  await bob.request('dm', { to: 'alice', text: 'hello back' });
  const deadline = Date.now() + 10_000;
  while (!pushes.some((p) => p.type === 'message' && p.text === 'hello back') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(pushes.some((p) => p.type === 'message' && p.text === 'hello back'), JSON.stringify(pushes));
  const who = await web.request<{ users: Array<{ username: string }> }>('who');
  assert.ok(who.users.some((u) => u.username === 'bob'));
  web.close();
});

test('a server whose chain does not lead to the anchors is refused with bad_certificate/untrusted', async () => {
  const other = makeRoot('CN=Somebody Else');
  await assert.rejects(webLogin('alice', [new Uint8Array(other.der)]), { code: 'bad_certificate', reason: 'untrusted' });
});

test('a server certificate without the expected name is refused with bad_certificate/name_mismatch', async () => {
  await assert.rejects(webLogin('alice', undefined, 'chat.example.com'), { code: 'bad_certificate', reason: 'name_mismatch' });
});

test('a server that never answers ends the async handshake with handshake_timeout', async () => {
  const provider = webCrypto();
  const key = await provider.p256Generate(false);
  let closed = false;
  const silent: FrameLink = { send: () => undefined, next: () => new Promise(() => undefined), close: () => (closed = true) };
  await assert.rejects(
    clientHandshakeAsync(silent, { provider, identity: { chain: [], privateKey: key.privateKey }, verifyPeer: () => undefined, timeoutMs: 200 }),
    { code: 'handshake_timeout' },
  );
  assert.equal(closed, true);
});
