/**
 * The same loads against the Node TLS baseline server (tls-server.ts): full handshakes with client
 * certificates, an echo round trip of a 200-byte frame, one-way 1 KB frames, idle connections.
 */
import tls from 'node:tls';
import { FrameDecoder, encodeFrame } from '../../src/protocol/frame.js';
import { benchUser, type BenchPki } from './pki.js';
import { nowUs, runLoops, sleep, summarize } from './stats.js';

export interface TlsTarget {
  port: number;
  pki: BenchPki;
}

interface FramedTls {
  socket: tls.TLSSocket;
  /** Resolves with the next frame the server sends. */
  nextFrame(): Promise<Buffer>;
}

/** Connects and resolves once the server's welcome frame arrived (so it accepted our certificate). */
export function connectTls(t: TlsTarget): Promise<FramedTls> {
  const { cert, key, ca } = t.pki.pem(benchUser(0));
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: t.port, servername: 'localhost', cert, key, ca, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    socket.setNoDelay(true);
    const decoder = new FrameDecoder(1024 * 1024);
    const queue: Buffer[] = [];
    const waiters: ((f: Buffer) => void)[] = [];
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        const w = waiters.shift();
        if (w) w(f);
        else queue.push(f);
      }
    });
    const nextFrame = (): Promise<Buffer> => {
      const f = queue.shift();
      if (f) return Promise.resolve(f);
      return new Promise((r) => waiters.push(r));
    };
    socket.once('error', reject);
    void nextFrame().then(() => {
      socket.off('error', reject);
      socket.on('error', () => socket.destroy());
      resolve({ socket, nextFrame });
    });
  });
}

export async function tlsHandshakes(t: TlsTarget, concurrency: number, seconds: number) {
  const t0 = nowUs();
  const count = await runLoops(concurrency, t0 + seconds * 1e6, async () => {
    const c = await connectTls(t);
    c.socket.end();
  });
  return { count, seconds: (nowUs() - t0) / 1e6 };
}

export async function tlsEchoLatency(t: TlsTarget, seconds: number, maxSamples: number) {
  const c = await connectTls(t);
  const frame = encodeFrame(Buffer.from(JSON.stringify({ type: 'echo', text: 'm'.repeat(200) })));
  const samples: number[] = [];
  for (let i = 0; i < 50; i++) {
    c.socket.write(frame);
    await c.nextFrame();
  }
  const deadline = nowUs() + seconds * 1e6;
  while (nowUs() < deadline && samples.length < maxSamples) {
    const t0 = nowUs();
    c.socket.write(frame);
    await c.nextFrame();
    samples.push(nowUs() - t0);
  }
  c.socket.destroy();
  return summarize(samples);
}

/** Same framing, same JSON, same batching (64 frames per tick, corked) as the one-way phase on our server. */
export async function tlsOneWay(t: TlsTarget, seconds: number, size: number) {
  const c = await connectTls(t);
  const msg = { type: 'pong', pad: '' };
  msg.pad = 'p'.repeat(size - Buffer.byteLength(JSON.stringify(msg)));
  const drain = (): Promise<void> => new Promise((resolve) => c.socket.once('drain', resolve));
  const t0 = nowUs();
  const deadline = t0 + seconds * 1e6;
  let sent = 0;
  while (nowUs() < deadline) {
    let ok = true;
    c.socket.cork();
    for (let i = 0; i < 64; i++) ok = c.socket.write(encodeFrame(Buffer.from(JSON.stringify(msg)))) && ok;
    c.socket.uncork();
    sent += 64;
    if (!ok) await drain();
    else await new Promise((r) => setImmediate(r));
  }
  c.socket.write(encodeFrame(Buffer.from(JSON.stringify({ type: 'ping' }))));
  await c.nextFrame();
  const elapsed = (nowUs() - t0) / 1e6;
  c.socket.destroy();
  return { sent, seconds: elapsed };
}

export interface TlsFanoutSetup {
  sender: FramedTls;
  members: FramedTls[];
  /** Frames received by all members since the last reset. */
  delivered: { count: number };
}

/** The fan-out baseline's connections (opened outside the measured window, like the chat logins). */
export async function setupTlsFanout(t: TlsTarget, memberCount: number): Promise<TlsFanoutSetup> {
  const members: FramedTls[] = [];
  for (let i = 0; i < memberCount; i += 10) members.push(...(await Promise.all(Array.from({ length: Math.min(10, memberCount - i) }, () => connectTls(t)))));
  const delivered = { count: 0 };
  for (const m of members) {
    // Count frames straight off a decoder (no per-frame promise), as the chat members count pushes.
    const decoder = new FrameDecoder(1024 * 1024);
    m.socket.removeAllListeners('data');
    m.socket.on('data', (chunk: Buffer) => {
      delivered.count += decoder.push(chunk).length;
    });
    m.socket.write(encodeFrame(Buffer.from(JSON.stringify({ type: 'join' }))));
    m.socket.write(encodeFrame(Buffer.from(JSON.stringify({ type: 'ping' }))));
  }
  // The pongs say every join was processed before the timed part starts.
  const settle = nowUs() + 30e6;
  while (delivered.count < members.length && nowUs() < settle) await sleep(1);
  const sender = await connectTls(t);
  return { sender, members, delivered };
}

/**
 * The fan-out baseline: the sender keeps `window` fan-out requests of 200 B in flight for
 * `seconds`; every member counts the frames it receives. The same shape as our group fan-out
 * (one request in, one push per member, one ack out).
 */
export async function tlsFanout(s: TlsFanoutSetup, window: number, seconds: number) {
  s.delivered.count = 0;
  const text = 'm'.repeat(200);
  let nextId = 1;
  const t0 = nowUs();
  const sent = await runLoops(window, t0 + seconds * 1e6, async () => {
    s.sender.socket.write(encodeFrame(Buffer.from(JSON.stringify({ type: 'fanout', id: nextId++, text }))));
    await s.sender.nextFrame();
  });
  const expected = sent * s.members.length;
  const waitUntil = nowUs() + 30e6;
  while (s.delivered.count < expected && nowUs() < waitUntil) await sleep(1);
  const elapsed = (nowUs() - t0) / 1e6;
  return { sent, delivered: s.delivered.count, expected, seconds: elapsed };
}

export function closeTlsFanout(s: TlsFanoutSetup): void {
  s.sender.socket.destroy();
  for (const m of s.members) m.socket.destroy();
}

export async function openIdleTls(t: TlsTarget, count: number, concurrency = 32) {
  const sockets: tls.TLSSocket[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        sockets.push((await connectTls(t)).socket);
      }
    }),
  );
  return {
    count: sockets.length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await sleep(200);
    },
  };
}
