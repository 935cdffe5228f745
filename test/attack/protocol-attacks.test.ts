/**
 * Attacks that can be driven at the protocol layer, against serverHandshake on a real TCP listener
 * (port 0). After every attack the same listener must still serve a fresh valid client.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { clientHandshake, serverHandshake, ReplayGuard, type SecureChannel } from '../../src/protocol/index.js';
import { FrameDecoder, encodeFrame, encodeFrameHeader } from '../../src/protocol/frame.js';
import { computeSharedSecret, deriveHandshakeSecrets, generateKeyShare, hmacSha256 } from '../../src/protocol/keys.js';
import { ContentType, RecordOpener, RecordSealer } from '../../src/protocol/record.js';
import { finishedHash } from '../../src/protocol/transcript.js';
import { SecureChatError } from '../../src/errors.js';
import { expectLeaf, identities, listen, makeIdentity, rejection } from '../helpers/protocol-fixtures.js';

const ids = await identities();

/** A protocol-level server: every accepted socket runs serverHandshake; outcomes are recorded. */
async function startServer(opts: { guard?: ReplayGuard; acceptServerLeaf?: boolean; timeoutMs?: number } = {}) {
  const guard = opts.guard ?? new ReplayGuard();
  const outcomes: Array<SecureChatError | SecureChannel<string>> = [];
  const waiters: Array<() => void> = [];
  const record = (o: SecureChatError | SecureChannel<string>) => {
    outcomes.push(o);
    waiters.splice(0).forEach((w) => w());
  };
  const accepted = opts.acceptServerLeaf ? expectLeaf(ids.client, ids.server) : expectLeaf(ids.client);
  const srv = await listen((socket) => {
    serverHandshake<string>(socket, { identity: ids.server, verifyPeer: accepted, replayGuard: guard, sessionId: `s${outcomes.length}`, timeoutMs: opts.timeoutMs ?? 5000 }).then(
      (ch) => {
        ch.on('message', (msg, data) => ch.send({ type: 'echo', of: msg, bytes: data?.length ?? 0 }));
        record(ch);
      },
      (err: SecureChatError) => record(err),
    );
  });
  return {
    port: srv.port,
    guard,
    /** The n-th handshake outcome on the server (0-based), once it exists. */
    async outcome(n: number) {
      while (outcomes.length <= n) await new Promise<void>((r) => waiters.push(r));
      return outcomes[n];
    },
    close: srv.close,
  };
}

type Server = Awaited<ReturnType<typeof startServer>>;
const servers: Server[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  return s;
}

async function validClient(port: number, overrides?: Record<string, unknown>): Promise<SecureChannel<string>> {
  return clientHandshake<string>(await connect(port), { identity: ids.client, verifyPeer: expectLeaf(ids.server), helloOverrides: overrides });
}

/** The server still completes a handshake and echoes a message. */
async function assertStillServes(server: Server): Promise<void> {
  const ch = await validClient(server.port);
  const reply = once(ch, 'message');
  ch.send({ type: 'ping' });
  assert.equal(((await reply)[0] as { type: string }).type, 'echo');
  ch.close();
}

/** Sends raw bytes, returns the first frame the server answers with (parsed JSON) or undefined on close. */
async function rawExchange(port: number, bytes: Buffer): Promise<Record<string, unknown> | undefined> {
  const s = await connect(port);
  const decoder = new FrameDecoder(1 << 20);
  const first = new Promise<Record<string, unknown> | undefined>((resolve) => {
    s.on('data', (chunk: Buffer) => {
      const [f] = decoder.push(chunk);
      if (f) resolve(JSON.parse(f.toString()));
    });
    s.on('close', () => resolve(undefined));
    s.on('error', () => resolve(undefined));
  });
  s.write(bytes);
  const reply = await first;
  s.destroy();
  return reply;
}

function helloBytes(over: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: 'client_hello',
      version: 1,
      nonce: randomBytes(32).toString('base64'),
      timestamp: Date.now(),
      key_share: generateKeyShare().publicRaw.toString('base64'),
      ...over,
    }),
  );
}

async function expectHelloRefused(server: Server, index: number, bytes: Buffer, code: string): Promise<void> {
  const reply = await rawExchange(server.port, bytes);
  assert.equal(reply?.type, 'error');
  assert.equal(reply?.code, code);
  assert.equal(typeof reply?.message, 'string');
  const outcome = await server.outcome(index);
  assert.ok(outcome instanceof SecureChatError);
  assert.equal(outcome.code, code);
}

test('byte-identical replay of a client_hello on a second connection: replay', async () => {
  const server = await startServer();
  servers.push(server);
  const hello = encodeFrame(helloBytes());
  const first = await rawExchange(server.port, hello);
  assert.equal(first?.type, 'server_hello');
  await expectHelloRefused(server, 1, hello, 'replay');
  await assertStillServes(server);
});

test('timestamp 1 h off (either way): clock_skew, and the real client sees the code', async () => {
  const server = await startServer();
  servers.push(server);
  await expectHelloRefused(server, 0, encodeFrame(helloBytes({ timestamp: Date.now() - 3_600_000 })), 'clock_skew');
  const err = await rejection(validClient(server.port, { timestamp: Date.now() + 3_600_000 }));
  assert.equal(err.code, 'clock_skew');
  await assertStillServes(server);
});

test('version downgrade/upgrade (0, 2): unsupported_version', async () => {
  const server = await startServer();
  servers.push(server);
  assert.equal((await rejection(validClient(server.port, { version: 0 }))).code, 'unsupported_version');
  assert.equal((await rejection(validClient(server.port, { version: 2 }))).code, 'unsupported_version');
  await assertStillServes(server);
});

test('hellos with wrong types, missing fields, deep nesting: malformed; a 10 MB string: handshake_frame_too_large', async () => {
  const server = await startServer();
  servers.push(server);
  let i = 0;
  await expectHelloRefused(server, i++, encodeFrame(helloBytes({ timestamp: 'now' })), 'malformed');
  await expectHelloRefused(server, i++, encodeFrame(helloBytes({ nonce: 12345 })), 'malformed');
  await expectHelloRefused(server, i++, encodeFrame(Buffer.from('{"type":"client_hello","version":1}')), 'malformed');
  const deep = '{"type":"client_hello","version":1,"nonce":' + '['.repeat(8000) + ']'.repeat(8000) + '}';
  await expectHelloRefused(server, i++, encodeFrame(Buffer.from(deep)), 'malformed');
  await expectHelloRefused(server, i++, encodeFrame(helloBytes({ key_share: 'A'.repeat(10_000_000) })), 'handshake_frame_too_large');
  await expectHelloRefused(server, i++, Buffer.from([0xff, 0xff, 0xff, 0xff]), 'handshake_frame_too_large');
  await expectHelloRefused(server, i++, encodeFrame(helloBytes({ key_share: Buffer.alloc(32).toString('base64') })), 'malformed');
  await assertStillServes(server);
});

test('1 MB of random bytes instead of a hello: a coded error, no crash', async () => {
  const server = await startServer();
  servers.push(server);
  const junk = randomBytes(1_000_000);
  junk[0] = 0x7f; // guarantee an over-limit length prefix (otherwise 1 in 4096 runs would be 'malformed')
  await expectHelloRefused(server, 0, junk, 'handshake_frame_too_large');
  const junk2 = randomBytes(1_000_000);
  junk2.writeUInt32BE(1000, 0);
  await expectHelloRefused(server, 1, junk2, 'malformed');
  await assertStillServes(server);
});

test('a client that sends a hello and resets the connection, or connects and never speaks', async () => {
  const server = await startServer({ timeoutMs: 300 });
  servers.push(server);
  const s = await connect(server.port);
  s.write(encodeFrame(helloBytes()));
  s.resetAndDestroy();
  const outcome = (await server.outcome(0)) as SecureChatError;
  assert.ok(outcome instanceof SecureChatError);
  assert.ok(['connection_closed', 'handshake_timeout'].includes(outcome.code), outcome.code);
  const silent = await connect(server.port);
  const reply = once(silent, 'data');
  const timedOut = (await server.outcome(1)) as SecureChatError;
  assert.equal(timedOut.code, 'handshake_timeout');
  const [frame] = (await reply) as [Buffer];
  assert.equal(JSON.parse(frame.subarray(4).toString()).code, 'handshake_timeout');
  silent.destroy();
  await assertStillServes(server);
});

test('ReplayGuard full of live nonces: busy (fails closed)', async () => {
  const server = await startServer({ guard: new ReplayGuard({ maxEntries: 1 }) });
  servers.push(server);
  const ok = await validClient(server.port);
  ok.close();
  const err = await rejection(validClient(server.port));
  assert.equal(err.code, 'busy');
  assert.equal(err.reason, 'replay_cache_full');
});

test('handshake frames are bounded at 64 KiB from the header alone (4 GiB, 65 KiB hellos, a 65 KiB client_auth); records after it may be larger', async () => {
  const server = await startServer();
  servers.push(server);
  const KiB = 1024;
  let i = 0;
  // Headers only: the answer comes without a body byte sent, so nothing was buffered waiting for one.
  await expectHelloRefused(server, i++, Buffer.from([0xff, 0xff, 0xff, 0xff]), 'handshake_frame_too_large');
  await expectHelloRefused(server, i++, encodeFrameHeader(64 * KiB + 1), 'handshake_frame_too_large');
  // A whole 65 KiB hello: refused as too large, not parsed.
  const big = helloBytes({ key_share: 'A'.repeat(65 * KiB) });
  assert.ok(big.length > 65 * KiB);
  await expectHelloRefused(server, i++, encodeFrame(big), 'handshake_frame_too_large');
  // Exactly 64 KiB is within the bound: it reaches the parser (and its padded key share is malformed).
  const base = helloBytes({ key_share: '' }).length;
  const exact = helloBytes({ key_share: 'A'.repeat(64 * KiB - base) });
  assert.equal(exact.length, 64 * KiB);
  await expectHelloRefused(server, i++, encodeFrame(exact), 'malformed');

  // A valid hello, then a 65 KiB client_auth record: refused from its header under the handshake keys.
  const sock = await connect(server.port);
  const decoder = new FrameDecoder(1 << 20);
  const frames: Buffer[] = [];
  sock.on('data', (c: Buffer) => frames.push(...decoder.push(c)));
  const share = generateKeyShare();
  const ch = helloBytes({ key_share: share.publicRaw.toString('base64') });
  sock.write(encodeFrame(ch));
  while (frames.length < 2) await once(sock, 'data');
  const [sh, saRecord] = frames.splice(0, 2);
  const hs = deriveHandshakeSecrets(computeSharedSecret(share.privateKey, Buffer.from(JSON.parse(sh.toString()).key_share, 'base64')), ch, sh);
  const opener = new RecordOpener(hs.server);
  opener.open(saRecord);
  const closed = once(sock, 'close');
  sock.write(new RecordSealer(hs.client).seal(ContentType.handshake, Buffer.alloc(65 * KiB, 0x20)));
  const outcome = (await server.outcome(i++)) as SecureChatError;
  assert.ok(outcome instanceof SecureChatError);
  assert.equal(outcome.code, 'handshake_frame_too_large');
  await closed;
  const alert = opener.open(frames[0]);
  assert.equal(alert.contentType, ContentType.alert);
  assert.equal(JSON.parse(alert.body.toString()).code, 'handshake_frame_too_large');

  // After the handshake the record bound (1 MiB here) applies: a 200 kB record is echoed.
  const ch2 = await validClient(server.port);
  const reply = once(ch2, 'message');
  ch2.send({ type: 'big' }, Buffer.alloc(200_000, 1));
  assert.equal(((await reply)[0] as { bytes: number }).bytes, 200_000);
  ch2.close();
});

test('client key does not match its certificate: bad_certificate key_mismatch on both sides', async () => {
  const server = await startServer();
  servers.push(server);
  const wrongKey = { chain: ids.client.chain, privateKey: ids.other.privateKey };
  const err = await rejection(clientHandshake(await connect(server.port), { identity: wrongKey, verifyPeer: expectLeaf(ids.server) }));
  assert.equal(err.code, 'bad_certificate');
  assert.equal(err.reason, 'key_mismatch');
  const outcome = (await server.outcome(0)) as SecureChatError;
  assert.equal(outcome.code, 'bad_certificate');
  assert.equal(outcome.reason, 'key_mismatch');
  await assertStillServes(server);
});

test("the server's own signature reflected back as the client's: bad_certificate", async () => {
  // Even with a verifyPeer that accepts the server's certificate from a client, the signature
  // context ("SecureChat v1 client") and the longer transcript make the reflection fail.
  const server = await startServer({ acceptServerLeaf: true });
  servers.push(server);
  const sock = await connect(server.port);
  const decoder = new FrameDecoder(1 << 20);
  const frames: Buffer[] = [];
  sock.on('data', (c: Buffer) => frames.push(...decoder.push(c)));
  const share = generateKeyShare();
  const ch = helloBytes({ key_share: share.publicRaw.toString('base64') });
  sock.write(encodeFrame(ch));
  while (frames.length < 2) await once(sock, 'data');
  const [sh, saRecord] = frames.splice(0, 2);
  const hs = deriveHandshakeSecrets(computeSharedSecret(share.privateKey, Buffer.from(JSON.parse(sh.toString()).key_share, 'base64')), ch, sh);
  const sa = new RecordOpener(hs.server).open(saRecord).body;
  const serverAuth = JSON.parse(sa.toString());
  const chain = serverAuth.certificate.map((c: string) => Buffer.from(c, 'base64'));
  const signature = Buffer.from(serverAuth.signature, 'base64');
  // The attacker knows the handshake keys, so its finished MAC is valid: only the signature stops it.
  const finished = hmacSha256(hs.client.finishedKey, finishedHash([ch, sh, sa], chain, signature));
  const clientAuth = Buffer.from(JSON.stringify({ type: 'client_auth', certificate: serverAuth.certificate, signature: serverAuth.signature, finished: finished.toString('base64') }));
  sock.write(new RecordSealer(hs.client).seal(ContentType.handshake, clientAuth));
  const outcome = (await server.outcome(0)) as SecureChatError;
  assert.ok(outcome instanceof SecureChatError);
  assert.equal(outcome.code, 'bad_certificate');
  assert.equal(outcome.reason, 'key_mismatch');
  sock.destroy();
  await assertStillServes(server);
});

/**
 * A man in the middle on the client→server direction: `tamper(i, frame)` returns what to forward
 * for the i-th frame (0 = client_hello, 1 = client_auth, 2… = application records).
 */
async function withProxy(server: Server, tamper: (i: number, frame: Buffer, upstream: net.Socket) => Buffer[]) {
  const proxy = await listen((down) => {
    const up = net.connect(server.port, '127.0.0.1');
    const decoder = new FrameDecoder(1 << 20);
    let i = 0;
    down.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) for (const out of tamper(i++, encodeFrame(f), up)) up.write(out);
    });
    up.on('data', (c: Buffer) => down.write(c));
    up.on('close', () => down.destroy());
    down.on('close', () => up.end());
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
  });
  servers.push({ ...server, close: proxy.close } as Server);
  const client = await clientHandshake<string>(await connect(proxy.port), { identity: ids.client, verifyPeer: expectLeaf(ids.server) });
  const serverChannel = (await server.outcome(0)) as SecureChannel<string>;
  assert.ok(!(serverChannel instanceof SecureChatError), 'handshake through the proxy succeeds');
  return { client, serverChannel };
}

async function recordAttack(name: string, tamper: (i: number, frame: Buffer, up: net.Socket) => Buffer[], send: (c: SecureChannel) => void, expected = 'bad_record') {
  const server = await startServer();
  servers.push(server);
  const { client, serverChannel } = await withProxy(server, tamper);
  const serverClosed = once(serverChannel, 'close');
  const clientClosed = once(client, 'close');
  send(client);
  const [err] = (await serverClosed) as [SecureChatError];
  assert.ok(err instanceof SecureChatError, name);
  assert.equal(err.code, expected, name);
  const [clientErr] = (await clientClosed) as [SecureChatError | undefined];
  assert.ok(clientErr instanceof SecureChatError, `${name}: the client learns the session ended`);
  await assertStillServes(server);
}

const three = (c: SecureChannel) => {
  c.send({ type: 'm', n: 1 });
  c.send({ type: 'm', n: 2 });
  c.send({ type: 'm', n: 3 });
};

test('replayed, duplicated, reordered and dropped records: bad_record', async () => {
  let saved: Buffer | undefined;
  await recordAttack('replayed', (i, f) => {
    if (i === 2) saved = f;
    return i === 4 && saved ? [saved] : [f];
  }, three);
  await recordAttack('duplicated', (i, f) => (i === 2 ? [f, f] : [f]), three);
  let held: Buffer | undefined;
  await recordAttack('reordered', (i, f) => {
    if (i === 2) {
      held = f;
      return [];
    }
    return i === 3 && held ? [f, held] : [f];
  }, three);
  await recordAttack('dropped', (i, f) => (i === 3 ? [] : [f]), three);
});

test('one flipped bit in ciphertext, tag or header: bad_record', async () => {
  const flip = (byteFromEnd: number | 'header') => (i: number, f: Buffer) => {
    if (i !== 2) return [f];
    const t = Buffer.from(f);
    if (byteFromEnd === 'header') {
      // Flip the lowest set bit of the length so the record shrinks by that many bytes.
      const low = t[3] & -t[3];
      t[3] ^= low;
    } else t[t.length - 1 - byteFromEnd] ^= 0x10;
    return [t];
  };
  const one = (c: SecureChannel) => c.send({ type: 'm', text: 'x'.repeat(33) });
  await recordAttack('ciphertext', flip(20), one);
  await recordAttack('tag', flip(0), one);
  await recordAttack('header', flip('header'), three);
});

test('truncated record then close: the server closes with bad_record (truncated)', async () => {
  const server = await startServer();
  servers.push(server);
  const { client, serverChannel } = await withProxy(server, (i, f, up) => {
    if (i !== 2) return [f];
    up.end(f.subarray(0, f.length - 5));
    return [];
  });
  const closed = once(serverChannel, 'close');
  client.send({ type: 'm' });
  const [err] = (await closed) as [SecureChatError];
  assert.equal(err.code, 'bad_record');
  assert.equal(err.reason, 'truncated');
  client.close();
  await assertStillServes(server);
});

test('1 MB of random bytes after the handshake, and a 4 GiB header: coded errors', async () => {
  const server = await startServer();
  servers.push(server);
  let up: net.Socket | undefined;
  const { client, serverChannel } = await withProxy(server, (_i, f, u) => {
    up = u;
    return [f];
  });
  const closed = once(serverChannel, 'close');
  const junk = randomBytes(1_000_000);
  junk.writeUInt32BE(60_000, 0); // a plausible length, so the record layer (not the framer) must reject it
  up!.write(junk);
  const [err] = (await closed) as [SecureChatError];
  assert.equal(err.code, 'bad_record');
  client.close();

  const server2 = await startServer();
  servers.push(server2);
  const mitm = await withProxy(server2, (_i, f, u) => {
    up = u;
    return [f];
  });
  const closed2 = once(mitm.serverChannel, 'close');
  up!.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  assert.equal(((await closed2) as [SecureChatError])[0].code, 'frame_too_large');
  mitm.client.close();
  await assertStillServes(server2);
});

test('a certificate with an unsupported or unparsable key is refused, not a crash', async () => {
  const server = await startServer({ acceptServerLeaf: true });
  servers.push(server);
  const junkCert = { chain: [Buffer.from('not a certificate')], privateKey: ids.client.privateKey };
  const err = await rejection(
    clientHandshake(await connect(server.port), { identity: junkCert, verifyPeer: expectLeaf(ids.server) }),
  );
  assert.equal(err.code, 'bad_certificate', 'verifyPeer (policy) refuses the unknown chain');
  const someone = await makeIdentity('someone');
  const err2 = await rejection(clientHandshake(await connect(server.port), { identity: someone, verifyPeer: expectLeaf(ids.server) }));
  assert.equal(err2.reason, 'untrusted');
  await assertStillServes(server);
});
