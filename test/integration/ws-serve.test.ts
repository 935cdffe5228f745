/**
 * The shipped program: `securechat serve --ws-port 0` listens for WebSocket beside TCP, and a
 * WebSocket client logs in and exchanges a DM with a TCP client of the same process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatClient } from '../../src/client/client.js';
import { wsDialer } from '../../src/client/ws-dial.js';
import { loadTrust } from '../../src/server/start.js';
import { makeTestPki, nextPush, TEST_PASSWORD, userIdentity, type TestPki } from '../helpers/chat-server.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';

let pki: TestPki;
let data: string;
let serve: ServeProcess;
let wsPort: number;

before(async () => {
  pki = await makeTestPki(['alice', 'bob']);
  data = mkdtempSync(join(tmpdir(), 'sc-ws-serve-'));
  serve = await startServe(['--port', '0', '--ws-port', '0', '--certs', pki.dir, '--db', `sqlite:${join(data, 'chat.db')}`, '--log-file', 'off', '--log-format', 'text']);
  wsPort = Number((await serve.waitFor(/WebSocket \(\/ws\) on https:\/\/[^\s]+:(\d+)\//))[1]);
});

after(async () => {
  await serve?.stop();
  rmSync(data, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

test('serve --ws-port: a WebSocket client and a TCP client exchange DMs through one process', async () => {
  const trust = loadTrust(pki.dir).trust;
  const rootPem = readFileSync(join(pki.dir, 'root_ca.pem'), 'utf8');
  const alice = await SecureChatClient.connect({
    host: '127.0.0.1', port: wsPort, serverName: 'localhost', identity: userIdentity(pki, 'alice'), trust,
    dial: wsDialer({ caPem: rootPem, serverName: 'localhost' }),
  });
  const bob = await SecureChatClient.connect({ host: '127.0.0.1', port: serve.port, serverName: 'localhost', identity: userIdentity(pki, 'bob'), trust });
  await alice.request('register', { password: TEST_PASSWORD });
  await bob.request('register', { password: TEST_PASSWORD });
  const got = nextPush<{ text: string }>(bob, 'message', 15_000);
  await alice.request('dm', { to: 'bob', text: 'from the web port' });
  assert.equal((await got).text, 'from the web port');
  alice.close();
  bob.close();
});
