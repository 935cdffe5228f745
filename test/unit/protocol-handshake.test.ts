import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { clientHandshake, serverHandshake, ReplayGuard, type AppMessage, type SecureChannel } from '../../src/protocol/index.js';
import { SecureChatError } from '../../src/errors.js';
import { duplexPair, expectLeaf, identities, rejection, tcpPair } from '../helpers/protocol-fixtures.js';

const ids = await identities();

function nextMessage(ch: SecureChannel): Promise<[AppMessage, Buffer | undefined]> {
  return once(ch, 'message') as Promise<[AppMessage, Buffer | undefined]>;
}

test('full handshake over real TCP on 127.0.0.1, then JSON and binary records both ways', async () => {
  const pair = await tcpPair();
  try {
    const [server, client] = await Promise.all([
      serverHandshake(pair.server, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 's-42' }),
      clientHandshake(pair.client, { identity: ids.client, verifyPeer: expectLeaf(ids.server) }),
    ]);
    assert.equal(server.peer, 'alice', "server learns the client's identity from verifyPeer");
    assert.equal(client.peer, 'server.test');
    assert.equal(client.welcome.sessionId, 's-42');
    assert.equal(server.welcome.sessionId, 's-42');
    assert.equal(typeof client.welcome.serverTime, 'number');

    const got = nextMessage(server);
    assert.equal(client.send({ type: 'dm', to: 'bob', text: 'hi ünïcode' }), true);
    assert.deepEqual((await got)[0], { type: 'dm', to: 'bob', text: 'hi ünïcode' });

    const blob = randomBytes(200_000);
    const gotFile = nextMessage(client);
    server.send({ type: 'file_chunk', seq: 3 }, blob);
    const [msg, data] = await gotFile;
    assert.deepEqual(msg, { type: 'file_chunk', seq: 3 });
    assert.deepEqual(data, blob);

    // Several sends in one tick arrive in order.
    const received: AppMessage[] = [];
    server.on('message', (m: AppMessage) => received.push(m));
    for (let i = 0; i < 50; i++) client.send({ type: 'n', i });
    while (received.length < 50) await once(server, 'message');
    assert.deepEqual(received.map((m) => m.i), [...Array(50).keys()]);

    const closed = once(server, 'close');
    client.close();
    assert.deepEqual(await closed, [undefined], 'close_notify ends the peer cleanly');
    assert.equal(client.closed, true);
    assert.equal(client.send({ type: 'late' }), false);
  } finally {
    pair.close();
  }
});

test('handshake over an in-memory duplex pair; frames sent right after welcome are not lost', async () => {
  const [s, c] = duplexPair();
  const serverP = serverHandshake(s, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 'mem' });
  const clientP = clientHandshake(c, { identity: ids.client, verifyPeer: expectLeaf(ids.server) });
  const server = await serverP;
  server.send({ type: 'presence', online: ['alice'] }); // may arrive in the same chunk as welcome
  const client = await clientP;
  const [msg] = await nextMessage(client);
  assert.deepEqual(msg, { type: 'presence', online: ['alice'] });
  client.close();
});

test('a client that rejects the server certificate: both sides fail with bad_certificate', async () => {
  const [s, c] = duplexPair();
  const serverP = serverHandshake(s, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 'x' });
  const clientP = clientHandshake(c, { identity: ids.client, verifyPeer: expectLeaf(ids.other) });
  const [se, ce] = await Promise.all([rejection(serverP), rejection(clientP)]);
  assert.equal(ce.code, 'bad_certificate');
  assert.equal(ce.reason, 'untrusted');
  assert.equal(se.code, 'bad_certificate', 'the client told the server why, under the handshake key');
  assert.equal(se.reason, 'untrusted');
});

test('a server that rejects the client certificate sends the reason as the first application record', async () => {
  const [s, c] = duplexPair();
  const refuse = () => {
    throw new SecureChatError('bad_certificate', 'Certificate has expired.', { reason: 'expired' });
  };
  const serverP = serverHandshake(s, { identity: ids.server, verifyPeer: refuse, replayGuard: new ReplayGuard(), sessionId: 'x' });
  const clientP = clientHandshake(c, { identity: ids.client, verifyPeer: expectLeaf(ids.server) });
  const [se, ce] = await Promise.all([rejection(serverP), rejection(clientP)]);
  assert.equal(se.code, 'bad_certificate');
  assert.equal(ce.code, 'bad_certificate');
  assert.equal(ce.reason, 'expired');
  assert.equal(ce.message, 'Certificate has expired.');
});

test('an async verifyPeer is awaited', async () => {
  const [s, c] = duplexPair();
  const [server, client] = await Promise.all([
    serverHandshake(s, { identity: ids.server, verifyPeer: async (chain) => ({ der: chain[0].length }), replayGuard: new ReplayGuard(), sessionId: 'x' }),
    clientHandshake(c, { identity: ids.client, verifyPeer: expectLeaf(ids.server) }),
  ]);
  assert.deepEqual(server.peer, { der: ids.client.chain[0].length });
  client.close();
});

test('a peer that never speaks: handshake_timeout', async () => {
  const [s, c] = duplexPair();
  const serverP = serverHandshake(s, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 'x', timeoutMs: 50 });
  const reply = once(c, 'data');
  assert.equal((await rejection(serverP)).code, 'handshake_timeout');
  const [frame] = (await reply) as [Buffer];
  assert.equal(JSON.parse(frame.subarray(4).toString()).code, 'handshake_timeout', 'sent in clear before any key exists');

  const [s2, c2] = duplexPair();
  s2.resume(); // a server that reads but never answers
  const clientP = clientHandshake(c2, { identity: ids.client, verifyPeer: expectLeaf(ids.server), timeoutMs: 50 });
  assert.equal((await rejection(clientP)).code, 'handshake_timeout');
});

test('fail() sends a coded error the peer receives as its close reason', async () => {
  const [s, c] = duplexPair();
  const [server, client] = await Promise.all([
    serverHandshake(s, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 'x' }),
    clientHandshake(c, { identity: ids.client, verifyPeer: expectLeaf(ids.server) }),
  ]);
  const closed = once(client, 'close');
  const serverClosed = once(server, 'close');
  server.fail(new SecureChatError('shutting_down'));
  const [err] = (await closed) as [SecureChatError];
  assert.equal(err.code, 'shutting_down');
  const [serverErr] = (await serverClosed) as [SecureChatError];
  assert.equal(serverErr.code, 'shutting_down');
});

test('send() refuses a record larger than maxFrameSize without closing the channel', async () => {
  const [s, c] = duplexPair();
  const [server, client] = await Promise.all([
    serverHandshake(s, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 'x', maxFrameSize: 4096 }),
    clientHandshake(c, { identity: ids.client, verifyPeer: expectLeaf(ids.server), maxFrameSize: 4096 }),
  ]);
  assert.throws(() => client.send({ type: 'big' }, Buffer.alloc(5000)), (e: SecureChatError) => e.code === 'frame_too_large');
  assert.equal(client.closed, false);
  const got = nextMessage(server);
  client.send({ type: 'small' });
  assert.deepEqual((await got)[0], { type: 'small' });
  client.close();
});

test('backpressure over TCP: send() returns false when the socket buffer is full and drain follows', async () => {
  const pair = await tcpPair();
  try {
    const [server, client] = await Promise.all([
      serverHandshake(pair.server, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 'bp' }),
      clientHandshake(pair.client, { identity: ids.client, verifyPeer: expectLeaf(ids.server) }),
    ]);
    const chunk = randomBytes(64 * 1024);
    const total = 64; // 4 MiB
    let received = 0;
    const allIn = new Promise<void>((resolve) =>
      client.on('message', (msg: AppMessage, data?: Buffer) => {
        assert.equal(msg.i, received);
        assert.deepEqual(data, chunk);
        if (++received === total) resolve();
      }),
    );
    let sawFalse = false;
    for (let i = 0; i < total; i++) {
      if (!server.send({ type: 'file_data', i }, chunk)) {
        sawFalse = true;
        assert.ok(server.bufferedBytes > 0);
        await once(server, 'drain');
      }
    }
    await allIn;
    assert.ok(sawFalse, 'a 4 MiB burst must hit the socket high-water mark');
    client.close();
  } finally {
    pair.close();
  }
});

test('small records queued past the high-water mark in one turn: send() returns false and drain follows', { timeout: 10_000 }, async () => {
  // A socket that takes the whole flush at once returns true from write() and never emits 'drain'
  // of its own; the channel owes the 'drain' its false promised (the one-way bench hung on it).
  const pair = await tcpPair();
  try {
    const [server, client] = await Promise.all([
      serverHandshake(pair.server, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 'q' }),
      clientHandshake(pair.client, { identity: ids.client, verifyPeer: expectLeaf(ids.server) }),
    ]);
    const pad = 'p'.repeat(1000);
    const total = 64; // ≈ 64 KiB of 1 KB records in one turn, past the socket's 16 KiB mark
    const received: number[] = [];
    const allIn = new Promise<void>((resolve) =>
      server.on('message', (msg: AppMessage) => {
        received.push(msg.i as number);
        if (received.length === total) resolve();
      }),
    );
    let ok = true;
    for (let i = 0; i < total; i++) ok = client.send({ type: 'n', i, pad }) && ok;
    assert.equal(ok, false, '64 KiB queued in one turn is past the high-water mark');
    assert.ok(client.bufferedBytes > 16 * 1024, 'queued bytes count before the flush');
    await once(client, 'drain');
    assert.equal(client.bufferedBytes, 0);
    await allIn;
    assert.deepEqual(received, [...Array(total).keys()]);
    client.close();
  } finally {
    pair.close();
  }
});

test('onStage names every step of a full handshake, in order (the bench times this code through it)', async () => {
  const { SERVER_HANDSHAKE_STAGES } = await import('../../src/protocol/handshake-server.js');
  const [s, c] = duplexPair({ deferred: true });
  const seen: string[] = [];
  const [server, client] = await Promise.all([
    serverHandshake(s, { identity: ids.server, verifyPeer: expectLeaf(ids.client), replayGuard: new ReplayGuard(), sessionId: 'st', onStage: (st) => seen.push(st) }),
    clientHandshake(c, { identity: ids.client, verifyPeer: expectLeaf(ids.server) }),
  ]);
  assert.deepEqual(seen, [...SERVER_HANDSHAKE_STAGES]);
  assert.equal(server.peer, 'alice');
  client.close();
  server.close();
});
