/**
 * Presence, rate limits and slow readers, end to end: who is online (and goes offline promptly),
 * `rate_limited` with a retry hint and nothing stored for refused requests, and a reader that stops
 * reading cannot make the server buffer without bound — yet gets every message, in order, once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { SecureChatError } from '../../src/errors.js';
import { nextPush, startChatServer } from '../helpers/chat-server.js';

test('presence: who lists uuid and username (an address only for your own sessions); online and offline are pushed to others', async () => {
  const chat = await startChatServer();
  try {
    const alice = await chat.login('alice');
    const online = nextPush<{ user: string; status: string; uuid: string }>(alice, 'presence');
    const bob = await chat.login('bob');
    const on = await online;
    assert.deepEqual([on.user, on.status], ['bob', 'online']);
    const who = await alice.request<{ users: { uuid: string; username: string; ip?: string }[] }>('who');
    assert.deepEqual(who.users.map((u) => u.username), ['alice', 'bob']);
    assert.ok(who.users.every((u) => /^[0-9a-f-]{36}$/.test(u.uuid)));
    // Addresses are private: alice sees her own, never bob's.
    assert.equal(who.users.find((u) => u.username === 'alice')?.ip, '127.0.0.1');
    assert.equal(who.users.find((u) => u.username === 'bob')?.ip, undefined);
    assert.equal(who.users.find((u) => u.username === 'bob')?.uuid, on.uuid);
    const offline = nextPush<{ user: string; status: string }>(alice, 'presence');
    bob.close();
    const off = await offline;
    assert.equal(off.user, 'bob');
    assert.equal(off.status, 'offline');
    const after = await alice.request<{ users: { username: string }[] }>('who');
    assert.deepEqual(after.users.map((u) => u.username), ['alice']);
    alice.close();
  } finally {
    await chat.close();
  }
});

test('rate limits: requests beyond the burst get rate_limited with retryAfterMs, and refused messages are not stored', async () => {
  const chat = await startChatServer({ limits: { rate: { requestsPerSecond: 2, burst: 15, maxInflightBytes: 8 << 20 } } });
  try {
    // login costs 5 tokens of the 15: 10 left for messages.
    const alice = await chat.login('alice');
    (await chat.login('bob')).close();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => alice.request('dm', { to: 'bob', text: `m${i}` })));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as SecureChatError);
    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    assert.ok(accepted >= 9 && accepted <= 11, `accepted ${accepted}`);
    assert.equal(refused.length, 20 - accepted);
    assert.ok(refused.every((e) => e.code === 'rate_limited' && Number(e.details?.retryAfterMs) > 0));
    const history = await chat.storage.history((await chat.storage.getOrCreateDm(1, 2)).id, { limit: 100 });
    assert.equal(history.length, accepted, 'only acknowledged messages are stored');
    alice.close();
  } finally {
    await chat.close();
  }
});

test('a slow reader: the server stops buffering for it, then replays from the store — all messages, in order, once', async () => {
  const chat = await startChatServer({
    limits: { rate: { requestsPerSecond: 100_000, burst: 100_000, maxInflightBytes: 64 << 20 } },
    delivery: { highWaterBytes: 256 * 1024, pageSize: 100 },
  });
  try {
    (await chat.login('alice')).close();
    const bob = await chat.login('bob');
    const alice = await chat.login('alice');
    const bobSession = [...chat.server.sessions].find((s) => s.username === 'bob');
    assert.ok(bobSession);
    // Bob's socket stops reading: the kernel buffers fill, then the server's socket queue.
    const bobSocket = (bobSession.channel as unknown as { stream: import('node:net').Socket }).stream;
    const clientSide = (bob as unknown as { channel: { stream: import('node:net').Socket } }).channel.stream;
    clientSide.pause();

    const text = 'x'.repeat(8 * 1024);
    const total = 600; // ≈ 5 MB of messages for bob
    let peakBuffered = 0;
    for (let i = 0; i < total; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => alice.request('dm', { to: 'bob', text: `${i + j}:${text}` })));
      peakBuffered = Math.max(peakBuffered, bobSocket.writableLength);
    }
    assert.ok(peakBuffered < 2 * 1024 * 1024, `server buffered ${peakBuffered} bytes for a reader that does not read`);

    const seen: number[] = [];
    bob.onPush('message', (m) => {
      seen.push(Number(String(m.text).split(':')[0]));
      bob.request('ack', { conversation_id: m.conversation_id, upto: m.id }).catch(() => undefined);
    });
    clientSide.resume();
    for (let waited = 0; seen.length < total && waited < 30_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, total, 'every message arrived');
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => i), 'in order, exactly once');
    alice.close();
    bob.close();
    await once(bob, 'close');
  } finally {
    await chat.close();
  }
});
