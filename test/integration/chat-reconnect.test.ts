/**
 * Automatic reconnect in the library (issue 12): a ChatClient with `reconnect` dials again after
 * the connection drops (a network cut, a server restart on the same database), logs in again,
 * receives what it missed from its cursors exactly once, sends what was asked meanwhile, and
 * resends a send whose answer was lost with the same client_msg_id.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient, type ChatMessage } from '../../src/client/chat-client.js';
import { backoffDelay, isRetryableClose } from '../../src/client/reconnect.js';
import { SecureChatError } from '../../src/errors.js';
import { startChatServer, TEST_PASSWORD, userIdentity, type TestChatServer } from '../helpers/chat-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let srv: TestChatServer;
let proxy: TcpProxy;
const open: ChatClient[] = [];

before(async () => {
  srv = await startChatServer();
  proxy = new TcpProxy(srv.port);
  await proxy.start();
  for (const u of ['alice', 'bob']) (await srv.login(u)).close();
});

after(async () => {
  for (const c of open) c.close();
  await proxy.close();
  await srv.close();
});

async function client(user: string, viaProxy: boolean): Promise<ChatClient> {
  const chat = await ChatClient.connect({
    host: '127.0.0.1',
    port: viaProxy ? proxy.port : srv.port,
    serverName: 'localhost',
    identity: userIdentity(srv.pki, user),
    trust: srv.pki.trust,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ackDelayMs: 0,
  });
  open.push(chat);
  await chat.login(TEST_PASSWORD);
  return chat;
}

function collect(chat: ChatClient): ChatMessage[] {
  const got: ChatMessage[] = [];
  chat.consume((ev) => {
    if (ev.type === 'message') got.push(ev.message);
  });
  return got;
}

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('backoff grows, is capped, and is jittered; auth and certificate failures are final', () => {
  assert.equal(backoffDelay(0, { initialDelayMs: 100, random: () => 0 }), 50);
  assert.equal(backoffDelay(0, { initialDelayMs: 100, random: () => 0.999 }), 100);
  assert.equal(backoffDelay(3, { initialDelayMs: 100, random: () => 0 }), 400);
  assert.equal(backoffDelay(30, { initialDelayMs: 100, maxDelayMs: 5000, random: () => 0 }), 2500);
  assert.equal(isRetryableClose(undefined), true);
  assert.equal(isRetryableClose(new SecureChatError('shutting_down')), true);
  assert.equal(isRetryableClose(new SecureChatError('connect_failed')), true);
  assert.equal(isRetryableClose(new SecureChatError('bad_certificate', undefined, { reason: 'revoked' })), false);
  assert.equal(isRetryableClose(new SecureChatError('auth_failed')), false);
  assert.equal(isRetryableClose(new SecureChatError('account_disabled')), false);
});

test('a cut connection comes back by itself; what was sent meanwhile arrives once, in order; requests made while down are sent after', async () => {
  const alice = await client('alice', false);
  const bob = await client('bob', true);
  const got = collect(bob);
  const events: string[] = [];
  bob.on('reconnecting', () => events.push('reconnecting'));
  bob.on('reconnected', () => events.push('reconnected'));
  const before = await alice.dm('bob', 'before the cut');
  await until(() => got.some((m) => m.id === before.id), 'the first message');
  await bob.idle();

  proxy.refuse = true;
  proxy.cut();
  await until(() => events.includes('reconnecting'), 'reconnecting');
  assert.equal(bob.closed, false, 'not closed: reconnecting');
  const whileDown = [await alice.dm('bob', 'while down 1'), await alice.dm('bob', 'while down 2')];
  // Asked while disconnected: queued, sent once the connection is back.
  const queued = bob.dm('alice', 'typed while disconnected');
  const who = bob.who();
  proxy.refuse = false;
  const sent = await queued;
  assert.ok(sent.id > 0);
  assert.ok((await who).some((u) => u.username === 'bob'));
  assert.ok(events.includes('reconnected'));
  await until(() => whileDown.every((s) => got.some((m) => m.id === s.id)), 'the messages sent while down');
  await bob.idle();
  assert.deepEqual(
    got.map((m) => m.text),
    ['before the cut', 'while down 1', 'while down 2'],
    'each exactly once, in order',
  );
  const history = await alice.history({ with: 'bob', limit: 10 });
  assert.equal(history.filter((m) => m.text === 'typed while disconnected').length, 1);
  const bobId = (await srv.storage.getUserByName('bob'))!.id;
  assert.equal((await srv.storage.pendingFor(bobId, 50)).length, 0, 'acknowledged after the reconnect');
  bob.close();
  alice.close();
});

test('a send whose answer was lost is resent after the reconnect and stored once', async () => {
  const alice = await client('alice', false);
  const bob = await client('bob', true);
  collect(alice);
  // Probe: does this server accept client_msg_id yet (issue 9 §2, another branch)?
  const probe = await bob.dm('alice', 'probe');
  const deduplicating = probe.client_msg_id !== undefined;
  proxy.swallowReplies = true;
  const pending = bob.dm('alice', 'answer lost');
  // The server stores it, its answer is swallowed; then the connection drops.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const h = await alice.history({ with: 'bob', limit: 5 });
    if (h.some((m) => m.text === 'answer lost')) break;
    if (Date.now() > deadline) throw new Error('the server never stored it');
    await new Promise((r) => setTimeout(r, 10));
  }
  proxy.swallowReplies = false;
  proxy.cut();
  if (deduplicating) {
    const r = await pending;
    assert.equal(r.duplicate, true, 'the retry got the original ack');
  } else {
    await assert.rejects(pending, (e: SecureChatError) => e.code === 'connection_closed' && /cannot deduplicate/.test(e.message));
  }
  const stored = (await alice.history({ with: 'bob', limit: 10 })).filter((m) => m.text === 'answer lost');
  assert.equal(stored.length, 1, 'stored exactly once');
  bob.close();
  alice.close();
});

test('without reconnect (the default) a drop closes the client and fails what waits', async () => {
  const plain = await ChatClient.connect({ host: '127.0.0.1', port: proxy.port, serverName: 'localhost', identity: userIdentity(srv.pki, 'bob'), trust: srv.pki.trust });
  open.push(plain);
  await plain.login(TEST_PASSWORD);
  const closed = new Promise<void>((resolve) => plain.once('close', () => resolve()));
  proxy.cut();
  await closed;
  assert.equal(plain.closed, true);
  await assert.rejects(plain.who(), (e: SecureChatError) => e.code === 'connection_closed');
});
