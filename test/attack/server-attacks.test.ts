/**
 * Attacks against the real chat server (router, limits, storage behind it) on port 0. After each
 * one the same server must still serve a fresh valid client end to end: handshake, login, a DM.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { SecureChatClient } from '../../src/client/client.js';
import { SecureChatError } from '../../src/errors.js';
import { FrameDecoder } from '../../src/protocol/frame.js';
import { nextPush, startChatServer, userIdentity, type TestChatServer } from '../helpers/chat-server.js';

let chat: TestChatServer;

before(async () => {
  chat = await startChatServer({ limits: { handshakeTimeoutMs: 2000, maxHandshakes: 64, maxHandshakesPerIp: 64 } });
  (await chat.login('bob')).close();
});
after(() => chat.close());

async function assertStillServes(): Promise<void> {
  const alice = await chat.login('alice');
  const bob = await chat.login('bob');
  const got = nextPush<{ text: string }>(bob, 'message');
  const text = `still here ${randomBytes(4).toString('hex')}`;
  await alice.request('dm', { to: 'bob', text });
  assert.equal((await got).text, text);
  alice.close();
  bob.close();
}

function rawSocket(): Promise<net.Socket> {
  const s = net.connect(chat.port, '127.0.0.1');
  s.on('error', () => undefined);
  return once(s, 'connect').then(() => s);
}

/** The first clear-text frame the server answers with (its error), or undefined if it just closed. */
function firstFrame(socket: net.Socket): Promise<Record<string, unknown> | undefined> {
  const decoder = new FrameDecoder(1 << 20);
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      const frames = decoder.push(chunk);
      if (frames.length > 0) resolve(JSON.parse(frames[0].toString('utf8')) as Record<string, unknown>);
    });
    socket.on('close', () => resolve(undefined));
  });
}

/** Records the bytes a real client writes, through a one-shot TCP proxy. */
async function recordClientHello(): Promise<Buffer> {
  const captured: Buffer[] = [];
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(chat.port, '127.0.0.1');
    inbound.on('data', (d: Buffer) => captured.push(d));
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const port = (proxy.address() as net.AddressInfo).port;
  const client = await SecureChatClient.connect({ host: '127.0.0.1', port, serverName: 'localhost', identity: userIdentity(chat.pki, 'alice'), trust: chat.pki.trust });
  client.close();
  proxy.close();
  const all = Buffer.concat(captured);
  const length = all.readUInt32BE(0);
  return all.subarray(0, 4 + length);
}

test('a byte-identical replayed client_hello is refused with replay', async () => {
  const hello = await recordClientHello();
  const socket = await rawSocket();
  const answer = firstFrame(socket);
  socket.write(hello);
  const frame = await answer;
  assert.equal(frame?.type, 'error');
  assert.equal(frame?.code, 'replay');
  await assertStillServes();
});

test('a timestamp an hour off is refused with clock_skew; version 2 with unsupported_version', async () => {
  const skewed = SecureChatClient.connect({
    host: '127.0.0.1', port: chat.port, serverName: 'localhost', identity: userIdentity(chat.pki, 'alice'), trust: chat.pki.trust,
    helloOverrides: { timestamp: Date.now() - 3_600_000 },
  });
  await assert.rejects(skewed, (err: SecureChatError) => err.code === 'clock_skew');
  const downgrade = SecureChatClient.connect({
    host: '127.0.0.1', port: chat.port, serverName: 'localhost', identity: userIdentity(chat.pki, 'alice'), trust: chat.pki.trust,
    helloOverrides: { version: 2 },
  });
  await assert.rejects(downgrade, (err: SecureChatError) => err.code === 'unsupported_version');
  await assertStillServes();
});

test('a header announcing 4 GiB is refused before allocation; 1 MB of random bytes gets a coded error', async () => {
  const big = await rawSocket();
  const bigAnswer = firstFrame(big);
  big.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  assert.equal((await bigAnswer)?.code, 'handshake_frame_too_large');

  const noise = await rawSocket();
  const noiseAnswer = firstFrame(noise);
  noise.write(randomBytes(1024 * 1024));
  const frame = await noiseAnswer;
  assert.ok(frame === undefined || ['handshake_frame_too_large', 'malformed'].includes(String(frame.code)), JSON.stringify(frame));
  await assertStillServes();
});

test('a client that connects and never speaks gets handshake_timeout', async () => {
  const socket = await rawSocket();
  const frame = await firstFrame(socket);
  assert.equal(frame?.code, 'handshake_timeout');
  await assertStillServes();
});

test('500 connections that open and stall: the excess is refused with busy, then everyone times out and the server serves again', async () => {
  const sockets = await Promise.all(Array.from({ length: 500 }, () => rawSocket()));
  const answers = await Promise.all(sockets.map((s) => firstFrame(s)));
  const codes = new Map<string, number>();
  for (const a of answers) codes.set(String(a?.code), (codes.get(String(a?.code)) ?? 0) + 1);
  // 64 slots: those time out; the rest are refused at once rather than queued.
  assert.equal(codes.get('handshake_timeout'), 64, JSON.stringify([...codes]));
  assert.equal(codes.get('busy'), 436, JSON.stringify([...codes]));
  for (const s of sockets) s.destroy();
  await assertStillServes();
});

test('requests before login are refused with not_logged_in; unknown commands with unknown_command', async () => {
  const client = await chat.connect('alice');
  await assert.rejects(client.request('dm', { to: 'bob', text: 'x' }), (e: SecureChatError) => e.code === 'not_logged_in');
  await assert.rejects(client.request('launch_missiles', {}), (e: SecureChatError) => e.code === 'unknown_command');
  await client.request('login', { password: 'correct horse battery' }).catch(async () => client.request('register', { password: 'correct horse battery' }));
  await assert.rejects(client.request('dm', { to: 'bob', text: 'x', extra: 1 }), (e: SecureChatError) => e.code === 'bad_request');
  await assert.rejects(client.request('dm', { to: 'nobody-here', text: 'x' }), (e: SecureChatError) => e.code === 'unknown_user');
  client.close();
  await assertStillServes();
});
