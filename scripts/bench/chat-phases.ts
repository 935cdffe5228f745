/**
 * Load against our server, from the load-generator process: handshakes, DM latency, group
 * fan-out, one-way records, a file relay and idle sessions. Each returns raw counts and times;
 * index.ts pairs them with the server CPU read around them.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SecureChatClient, ticketKey, type Dialer, type ServerIdentity } from '../../src/client/client.js';
import { wsDialer } from '../../src/client/ws-dial.js';
import { TicketStore } from '../../src/client/tickets.js';
import { silentLogger } from '../../src/log.js';
import { clientHandshake } from '../../src/protocol/handshake.js';
import type { SecureChannel } from '../../src/protocol/types.js';
import { benchUser, type BenchPki } from './pki.js';
import { nowUs, runLoops, sleep, summarize } from './stats.js';

export const BENCH_PASSWORD = 'bench password 1234';
const TEXT_200 = 'm'.repeat(200);

export interface ChatTarget {
  port: number;
  pki: BenchPki;
  /** Dial the server's WebSocket port (wss://, the server's certificate) instead of TCP. */
  ws?: boolean;
  /** With `ws`: plain ws://, the port of a server behind a TLS-terminating proxy (--ws-behind-proxy). */
  wsPlain?: boolean;
}

const wsDialers = new WeakMap<BenchPki, Map<string, Dialer>>();
/** One dialer per PKI and scheme: wss:// trusts that run's root for the TLS of the WebSocket port. */
function dialerFor(t: ChatTarget): Dialer | undefined {
  if (!t.ws) return undefined;
  const scheme = t.wsPlain ? 'ws' : 'wss';
  let byScheme = wsDialers.get(t.pki);
  if (!byScheme) wsDialers.set(t.pki, (byScheme = new Map()));
  let dial = byScheme.get(scheme);
  if (!dial) {
    dial = wsDialer({ caPem: t.pki.pem(benchUser(0)).ca, serverName: 'localhost', scheme });
    byScheme.set(scheme, dial);
  }
  return dial;
}

export function connectChat(t: ChatTarget, user: string): Promise<SecureChatClient> {
  const dial = dialerFor(t);
  return SecureChatClient.connect({
    host: '127.0.0.1',
    port: t.port,
    serverName: 'localhost',
    identity: t.pki.identity(user),
    trust: t.pki.trust,
    requestTimeoutMs: 120_000,
    ...(dial ? { dial } : {}),
  });
}

/** Connects and logs in; with `caughtUp`, also waits for the `caught_up` push (the replay of what was pending is over). */
export async function loginChat(t: ChatTarget, user: string, options: { caughtUp?: boolean } = {}): Promise<SecureChatClient> {
  const client = await connectChat(t, user);
  let off = (): void => undefined;
  let timer: NodeJS.Timeout | undefined;
  const caughtUp = new Promise<void>((resolve, reject) => {
    off = client.onPush('caught_up', () => resolve());
    // Bounded like everything in the bench: a replay that never ends is an error, not a hang.
    timer = setTimeout(() => reject(new Error(`${user}: no caught_up push within 60 s of login`)), 60_000);
  });
  caughtUp.catch(() => undefined);
  try {
    await client.request('login', { password: BENCH_PASSWORD });
    if (options.caughtUp) await caughtUp;
  } finally {
    off();
    clearTimeout(timer);
  }
  return client;
}

/**
 * Acknowledges what `client` is pushed the way the chat client does (the highest id per
 * conversation, batched every `delayMs`), so its cursors stay current. A session that never acks
 * has all of it replayed when it logs in again — and a full replay page (500) waits for an ack
 * before the next, so such a session would stay in catch-up for good, its live pushes held back.
 * Returns the unsubscribe.
 */
export function autoAck(client: SecureChatClient, delayMs = 20): () => void {
  const pending = new Map<number, number>();
  let timer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    timer = null;
    for (const [conversationId, upto] of pending) client.request('ack', { conversation_id: conversationId, upto }).catch(() => undefined);
    pending.clear();
  };
  const off = client.onPush('message', (msg) => {
    const conversationId = msg.conversation_id;
    const id = msg.id;
    if (typeof conversationId !== 'number' || typeof id !== 'number') return;
    if (id > (pending.get(conversationId) ?? 0)) pending.set(conversationId, id);
    timer ??= setTimeout(flush, delayMs);
  });
  return () => {
    off();
    if (timer) clearTimeout(timer);
  };
}

/** A bare protocol channel (no SecureChatClient), for one-way records the server does not answer. */
export async function dialChannel(t: ChatTarget, user: string): Promise<SecureChannel> {
  const dial = dialerFor(t);
  let socket: Duplex;
  if (dial) {
    socket = await dial('127.0.0.1', t.port, 10_000);
  } else {
    const tcp = net.connect({ host: '127.0.0.1', port: t.port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      tcp.once('connect', resolve);
      tcp.once('error', reject);
    });
    socket = tcp;
  }
  return clientHandshake(socket, {
    identity: t.pki.identity(user),
    verifyPeer: (chain) => t.pki.trust.verifyDer(chain, { purpose: 'server', hostname: 'localhost' })[0].subject,
    log: silentLogger(),
  });
}

function chatOptions(t: ChatTarget, user: string, tickets?: TicketStore<ServerIdentity>) {
  return {
    host: '127.0.0.1',
    port: t.port,
    serverName: 'localhost',
    identity: t.pki.identity(user),
    trust: t.pki.trust,
    requestTimeoutMs: 120_000,
    ...(tickets ? { tickets } : {}),
  };
}

async function waitForTickets(store: TicketStore<ServerIdentity>, key: string): Promise<void> {
  for (let i = 0; store.count(key) === 0; i++) {
    if (i > 10_000) throw new Error('no session tickets from the server');
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Resumed handshakes (docs/PROTOCOL.md §9): each loop keeps its own ticket store, primed by one
 * full handshake; then resume (fresh X25519 + PSK), wait for welcome and the new ticket batch, close.
 * Counts a fallback to a full handshake separately (there should be none).
 */
export async function resumedHandshakes(t: ChatTarget, concurrency: number, seconds: number): Promise<{ count: number; seconds: number; fallbacks: number }> {
  const user = benchUser(0);
  const free: TicketStore<ServerIdentity>[] = [];
  const key = ticketKey(chatOptions(t, user));
  for (let i = 0; i < concurrency; i++) {
    const store = new TicketStore<ServerIdentity>();
    const c = await SecureChatClient.connect(chatOptions(t, user, store));
    await waitForTickets(store, key);
    c.close();
    free.push(store);
  }
  let fallbacks = 0;
  const t0 = nowUs();
  const count = await runLoops(concurrency, t0 + seconds * 1e6, async () => {
    const store = free.pop() as TicketStore<ServerIdentity>;
    const c = await SecureChatClient.connect(chatOptions(t, user, store));
    if (!c.resumed) fallbacks++;
    // Tickets arrive right behind the welcome: keep the chain going.
    await waitForTickets(store, key);
    c.close();
    free.push(store);
  });
  return { count, seconds: (nowUs() - t0) / 1e6, fallbacks };
}

/** Full mutual-certificate handshakes: connect, wait for welcome, close. */
export async function handshakes(t: ChatTarget, concurrency: number, seconds: number): Promise<{ count: number; seconds: number }> {
  const t0 = nowUs();
  const count = await runLoops(concurrency, t0 + seconds * 1e6, async () => {
    const c = await connectChat(t, benchUser(0));
    c.close();
  });
  return { count, seconds: (nowUs() - t0) / 1e6 };
}

/** A push that has not come by then is counted as late and the run goes on: the bench always ends. */
const PUSH_TIMEOUT_MS = 2000;

/**
 * One DM at a time from A to B; latency = A sends → B has the push of that very DM (each text
 * carries its number: a push replayed or late from an earlier one is not taken for it). A push
 * later than PUSH_TIMEOUT_MS counts as `late`, outside the percentiles.
 */
export async function dmLatency(a: SecureChatClient, b: SecureChatClient, toUser: string, seconds: number, maxSamples: number, warmup = 50) {
  const samples: number[] = [];
  const ackSamples: number[] = [];
  let late = 0;
  const deadline = nowUs() + seconds * 1e6;
  // Warm-up: creates the DM conversation and JITs the path.
  for (let i = 0; i < warmup; i++) await a.request('dm', { to: toUser, text: TEXT_200 });
  await sleep(50);
  for (let i = 0; nowUs() < deadline && samples.length + late < maxSamples; i++) {
    const text = `${i} `.padEnd(TEXT_200.length, 'm');
    let off = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    const pushed = new Promise<number | null>((resolve) => {
      off = b.onPush('message', (msg) => {
        if (msg.text === text) resolve(nowUs());
      });
      timer = setTimeout(() => resolve(null), PUSH_TIMEOUT_MS);
    });
    const t0 = nowUs();
    const acked = a.request('dm', { to: toUser, text }).then(() => nowUs());
    const [tPush, tAck] = await Promise.all([pushed, acked]);
    off();
    clearTimeout(timer);
    ackSamples.push(tAck - t0);
    if (tPush === null) late++;
    else samples.push(tPush - t0);
  }
  return { delivery: summarize(samples), ack: summarize(ackSamples), late, sent: samples.length + late, samples };
}

export interface FanoutSetup {
  sender: SecureChatClient;
  members: SecureChatClient[];
  group: string;
}

/**
 * Logs in 1 + `memberCount` users and makes a group of all of them. Given several targets (the
 * nodes of a cluster), the sender is on the first and member i on `targets[i % targets.length]`.
 */
export async function setupFanout(targets: ChatTarget | readonly ChatTarget[], memberCount: number): Promise<FanoutSetup> {
  const nodes: readonly ChatTarget[] = 'port' in targets ? [targets] : targets;
  const at = (i: number): ChatTarget => nodes[i % nodes.length];
  const group = 'bench';
  const sender = await loginChat(at(0), benchUser(0));
  const members: SecureChatClient[] = [];
  for (let i = 1; i <= memberCount; i += 10) {
    const batch = Array.from({ length: Math.min(10, memberCount + 1 - i) }, (_, k) => loginChat(at(i + k), benchUser(i + k)));
    members.push(...(await Promise.all(batch)));
  }
  await sender.request('group_create', { name: group });
  for (let i = 1; i <= memberCount; i++) await sender.request('group_add', { group, user: benchUser(i) });
  await sleep(200);
  return { sender, members, group };
}

/** The sender keeps `window` group_sends in flight for `seconds`; counts pushes at every member. */
export async function fanout(s: FanoutSetup, window: number, seconds: number) {
  let delivered = 0;
  const onMessage = (): void => {
    delivered++;
  };
  const offs = s.members.map((m) => m.onPush('message', onMessage));
  const t0 = nowUs();
  const sent = await runLoops(window, t0 + seconds * 1e6, async () => {
    await s.sender.request('group_send', { group: s.group, text: TEXT_200 });
  });
  const expected = sent * s.members.length;
  const waitUntil = nowUs() + 30e6;
  while (delivered < expected && nowUs() < waitUntil) await sleep(1);
  const elapsed = (nowUs() - t0) / 1e6;
  for (const off of offs) off();
  return { sent, delivered, expected, seconds: elapsed };
}

/**
 * One-way 1 KB records on one session: `pong` records carrying padding, which the server
 * decrypts, parses and drops (a keepalive answer needs no reply); a `ping` at the end is the
 * barrier (the server answers it only after every earlier record was processed).
 */
export async function oneWay(t: ChatTarget, seconds: number, size: number) {
  const channel = await dialChannel(t, benchUser(0));
  const msg = { type: 'pong', pad: '' };
  msg.pad = 'p'.repeat(size - Buffer.byteLength(JSON.stringify(msg)));
  const drain = (): Promise<void> => new Promise((resolve) => channel.once('drain', resolve));
  const t0 = nowUs();
  const deadline = t0 + seconds * 1e6;
  let sent = 0;
  while (nowUs() < deadline) {
    let ok = true;
    for (let i = 0; i < 64; i++) ok = channel.send(msg) && ok;
    sent += 64;
    if (!ok) await drain();
    else await new Promise((r) => setImmediate(r));
  }
  // The answer to this ping, not any message: session_tickets may still be waiting to be read.
  const pong = new Promise<void>((resolve) => {
    const onMessage = (m: { type?: unknown }): void => {
      if (m.type !== 'pong') return;
      channel.off('message', onMessage);
      resolve();
    };
    channel.on('message', onMessage);
  });
  channel.send({ type: 'ping' });
  await pong;
  const elapsed = (nowUs() - t0) / 1e6;
  channel.close();
  return { sent, seconds: elapsed, bytes: Buffer.byteLength(JSON.stringify(msg)) };
}

/** sender → server (offer, chunks, complete; stored) → receiver (message push, file_get). */
export async function fileRelay(sender: SecureChatClient, receiver: SecureChatClient, to: string, sizeBytes: number) {
  const content = randomBytes(sizeBytes);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const t0 = nowUs();
  const pushed = new Promise<number>((resolve) => {
    const off = receiver.onPush('message', (msg) => {
      if (msg.kind !== 'file') return;
      off();
      resolve(msg.id as number);
    });
  });
  const offer = await sender.request<{ transfer_id: string; chunk_size: number }>('file_offer', { to, name: 'bench.bin', size: sizeBytes, sha256 });
  const chunks: Promise<unknown>[] = [];
  for (let offset = 0; offset < sizeBytes; offset += offer.chunk_size) {
    chunks.push(sender.request('file_chunk', { transfer_id: offer.transfer_id, offset }, content.subarray(offset, offset + offer.chunk_size)));
    if (sender.bufferedBytes > 4 * 1024 * 1024) await sender.waitForDrain();
  }
  await Promise.all(chunks);
  await sender.request('file_complete', { transfer_id: offer.transfer_id });
  const tStored = nowUs();
  const messageId = await pushed;
  let received = 0;
  const onData = (_msg: unknown, data?: Buffer): void => {
    received += data?.length ?? 0;
  };
  const offData = receiver.onPush('file_data', onData);
  await receiver.request('file_get', { message_id: messageId });
  offData();
  const t1 = nowUs();
  if (received !== sizeBytes) throw new Error(`file relay: received ${received} of ${sizeBytes} bytes`);
  return { seconds: (t1 - t0) / 1e6, uploadSeconds: (tStored - t0) / 1e6 };
}

/** Opens `count` cert-authenticated sessions and keeps them open (idle) until `close` is called. */
export async function openIdleSessions(t: ChatTarget, count: number, concurrency = 32) {
  const clients: SecureChatClient[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        clients.push(await connectChat(t, benchUser(0)));
      }
    }),
  );
  return {
    count: clients.length,
    close: async () => {
      for (const c of clients) c.close();
      await sleep(200);
    },
  };
}
