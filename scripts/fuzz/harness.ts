/**
 * The frame fuzzer: a server process on a throwaway PKI and SQLite database, then `frames` random
 * and mutated frames over many connections (bounded concurrency): pre-handshake inputs, and after
 * a real handshake, fuzzed application requests ending in one record the record layer must refuse.
 * Pass = the server never exits, its peak RSS stays under the bound, and afterwards a valid client
 * completes a handshake, registers and gets a DM round trip.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChatClient, type ChatMessage } from '../../src/client/chat-client.js';
import { toSecureChatError } from '../../src/errors.js';
import { encodeFrameHeader } from '../../src/protocol/frame.js';
import { encodeJson } from '../../src/protocol/messages.js';
import { ContentType, type ContentTypeValue } from '../../src/protocol/record.js';
import { createEnvironment } from '../soak/environment.js';
import { Random } from '../soak/random.js';
import { spawnServer, type ServerHandle } from '../soak/server-handle.js';
import { FINISHERS, deepNesting, flipBits, fuzzRequest, preHandshakeInput, type Finisher } from './mutate.js';
import { clientHelloBytes, dialRaw, rawHandshake, type RawSession } from './raw-connection.js';

export interface FuzzOptions {
  frames: number;
  seed: number;
  concurrency: number;
  /** Share of the frames sent before any handshake (the rest go after a valid handshake). */
  preShare: number;
  /**
   * Fail when the server's peak RSS exceeds its RSS after startup by more than this. Default 256 MB:
   * 16 connections × the server's 8 MiB of in-flight request bytes per session = 128 MiB, doubled
   * for V8 collecting lazily.
   */
  maxRssGrowthMb: number;
  progress?: (line: string) => void;
}

export const DEFAULT_FUZZ: FuzzOptions = { frames: 100_000, seed: 1, concurrency: 16, preShare: 0.25, maxRssGrowthMb: 256 };

export interface FuzzReport {
  ok: boolean;
  failures: string[];
  options: Omit<FuzzOptions, 'progress'>;
  framesSent: number;
  connections: { preHandshake: number; postHandshake: number; handshakeFailed: number };
  /** What the server answered, by `where:code` (hello = plaintext before keys, alert = fatal record, response = request error). */
  serverCodes: Record<string, number>;
  inputs: Record<string, number>;
  unansweredRequests: number;
  rssMb: { start: number; peak: number; end: number; bound: number };
  serverErrorLogLines: number;
  validClientServed: boolean;
  elapsedSeconds: number;
}

const PASSWORD = 'correct horse battery staple';

interface Tally {
  codes: Map<string, number>;
  inputs: Map<string, number>;
  frames: number;
  unanswered: number;
  handshakeFailed: number;
}

function bump(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/** Reads what the server sends until it closes: a plaintext hello/error, then nothing we can open. */
async function preHandshakeJob(port: number, rng: Random, tally: Tally): Promise<void> {
  const reader = await dialRaw(port);
  const { bytes, label } = preHandshakeInput(rng, () => clientHelloBytes().bytes);
  bump(tally.inputs, `pre:${label}`);
  tally.frames++;
  reader.socket.end(bytes);
  const first = await reader.next(5000);
  if (!first) {
    bump(tally.codes, 'hello:(closed without reply)');
  } else {
    try {
      const obj = JSON.parse(first.toString('utf8')) as { type?: string; code?: string };
      bump(tally.codes, obj.type === 'error' ? `hello:${obj.code}` : `hello:${obj.type}`);
    } catch {
      bump(tally.codes, 'hello:(unreadable)');
    }
  }
  await reader.closedWithin(5000);
  reader.socket.destroy();
}

/** Opens every server record in order and tallies responses, pushes and alerts. */
function startTally(session: RawSession, tally: Tally): { responses: () => number; closedByAlert: () => string | null } {
  let responses = 0;
  let alert: string | null = null;
  let broken = false;
  const pump = async (): Promise<void> => {
    for (;;) {
      const frame = await session.reader.next(60_000);
      if (!frame || broken) return;
      try {
        const rec = session.opener.open(frame);
        const body = rec.contentType === ContentType.applicationWithData ? rec.body.subarray(4 + rec.body.readUInt32BE(0)) : rec.body;
        if (rec.contentType === ContentType.alert) {
          const e = JSON.parse(body.toString('utf8')) as { code?: string };
          alert = String(e.code);
          bump(tally.codes, `alert:${alert}`);
        } else if (rec.contentType === ContentType.closeNotify) {
          bump(tally.codes, 'close_notify');
        } else if (rec.contentType === ContentType.application) {
          const m = JSON.parse(body.toString('utf8')) as { type?: string; ok?: boolean; error?: { code?: string } };
          if (m.type === 'response') {
            responses++;
            bump(tally.codes, m.ok ? 'response:ok' : `response:${m.error?.code}`);
          } else if (m.type !== 'message' && m.type !== 'presence') {
            bump(tally.codes, `push:${m.type}`);
          }
        }
      } catch {
        broken = true;
        bump(tally.codes, '(unreadable server record)');
      }
    }
  };
  void pump();
  return { responses: () => responses, closedByAlert: () => alert };
}

function seal(session: RawSession, type: number, body: Buffer): Buffer {
  return session.sealer.seal(type as ContentTypeValue, body);
}

function finisherFrame(session: RawSession, rng: Random, finisher: Finisher, lastSent: Buffer | null): Buffer {
  const valid = (): Buffer => seal(session, ContentType.application, encodeJson({ type: 'who', id: 1 }));
  switch (finisher) {
    case 'flip_header': {
      const f = valid();
      f[3] ^= 1 << rng.int(8);
      return f;
    }
    case 'flip_ciphertext': {
      const f = valid();
      f[4 + rng.int(f.length - 4 - 16)] ^= 1 << rng.int(8);
      return f;
    }
    case 'flip_tag': {
      const f = valid();
      f[f.length - 1 - rng.int(16)] ^= 1 << rng.int(8);
      return f;
    }
    case 'replay':
      return lastSent ?? valid();
    case 'skip_sequence':
      valid();
      return valid();
    case 'random_record': {
      const body = rng.bytes(17 + rng.int(500));
      return Buffer.concat([encodeFrameHeader(body.length), body]);
    }
    case 'invalid_json':
      return seal(session, ContentType.application, flipBits(encodeJson({ type: 'who', id: 1 }), rng, 3));
    case 'unknown_content_type':
      return seal(session, rng.pick([0x00, 0x06, 0x7f, 0xff]), encodeJson({ type: 'who', id: 1 }));
    case 'handshake_record':
      return seal(session, ContentType.handshake, encodeJson({ type: 'client_auth', certificate: [], signature: '', finished: '' }));
    case 'bad_data_length': {
      const body = Buffer.alloc(40);
      body.writeUInt32BE(0xffffff00, 0);
      return seal(session, ContentType.applicationWithData, body);
    }
    case 'truncated':
      return valid().subarray(0, 10);
    case 'zero_length':
      return encodeFrameHeader(rng.chance(0.5) ? 0 : 0xffffffff);
    case 'too_deep':
      return seal(session, ContentType.application, Buffer.from(deepNesting(rng, 100)));
    case 'type_not_string':
      return seal(session, ContentType.application, encodeJson({ type: rng.pick([1, null, [], {}]), id: 2 }));
    case 'alert':
      return seal(session, ContentType.alert, encodeJson({ type: 'error', code: 'internal', message: 'fuzz' }));
    case 'close_notify':
      return seal(session, ContentType.closeNotify, Buffer.alloc(0));
  }
}

async function postHandshakeJob(port: number, env: { identity: ChatIdentity }, rng: Random, frames: number, tally: Tally): Promise<void> {
  let session: RawSession;
  try {
    session = await rawHandshake(port, env.identity);
  } catch (err) {
    tally.handshakeFailed++;
    bump(tally.codes, `handshake:${toSecureChatError(err).code}`);
    return;
  }
  const counts = startTally(session, tally);
  const socket = session.reader.socket;
  let ids = 1_000_000;
  let expected = 0;
  let lastSent: Buffer | null = null;
  const send = (frame: Buffer): void => {
    lastSent = frame;
    socket.write(frame);
    tally.frames++;
  };
  try {
    // Mostly logged in, so the handlers behind the login gate get fuzzed too.
    if (rng.chance(0.7)) {
      socket.write(seal(session, ContentType.application, encodeJson({ type: 'login', id: 1, password: PASSWORD })));
      expected++;
      // Requests run concurrently on the server: wait, or the fuzz would race the password check.
      await waitFor(() => counts.responses() >= expected || session.reader.closed, 10_000);
    }
    for (let i = 0; i < frames - 1 && !session.reader.closed; i++) {
      const { msg, data } = fuzzRequest(rng, () => ids++);
      let body = encodeJson(msg);
      let type: number = ContentType.application;
      if (data !== undefined) {
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32BE(body.length, 0);
        body = Buffer.concat([prefix, body, data]);
        type = ContentType.applicationWithData;
      }
      if (body.length + 17 > 1024 * 1024) continue;
      send(seal(session, type, body));
      if (msg.type !== 'ping' && msg.type !== 'pong') expected++;
      bump(tally.inputs, 'post:request');
      // Respect the server's flow control a little: let responses catch up every so often.
      if (i % 50 === 49) await waitFor(() => counts.responses() >= expected || session.reader.closed, 5000);
    }
    await waitFor(() => counts.responses() >= expected || session.reader.closed, 5000);
    if (!session.reader.closed) tally.unanswered += Math.max(0, expected - counts.responses());
    const finisher = rng.pick(FINISHERS);
    bump(tally.inputs, `post:${finisher}`);
    send(finisherFrame(session, rng, finisher, lastSent));
    if (finisher === 'truncated') socket.end();
    await session.reader.closedWithin(5000);
  } finally {
    socket.destroy();
  }
}

type ChatIdentity = ReturnType<Awaited<ReturnType<typeof createEnvironment>>['identity']>;

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
}

/** A normal client after the storm: handshake, register, DM round trip, receipt. */
async function validClientServed(port: number, env: Awaited<ReturnType<typeof createEnvironment>>): Promise<string | null> {
  const connect = (user: string) =>
    ChatClient.connect({ host: '127.0.0.1', port, serverName: 'localhost', identity: env.identity(user), trust: env.trust, requestTimeoutMs: 10_000 });
  const alice = await connect('alice');
  const bob = await connect('bob');
  try {
    await alice.register(PASSWORD);
    await bob.register(PASSWORD);
    const got = new Promise<ChatMessage>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('bob got no message within 10 s')), 10_000);
      bob.consume((ev) => {
        const m = ev.type === 'message' ? ev.message : undefined;
        if (m?.text === 'after the fuzz') {
          clearTimeout(t);
          resolve(m);
        }
      });
    });
    const sent = await alice.dm('bob', 'after the fuzz');
    const m = await got;
    if (m.id !== sent.id || m.from !== 'alice') return `bob got ${JSON.stringify(m)} for ${JSON.stringify(sent)}`;
    return null;
  } catch (err) {
    return `valid client not served: ${toSecureChatError(err).code}: ${(err as Error).message}`;
  } finally {
    alice.close();
    bob.close();
  }
}

export async function runFuzz(input: Partial<FuzzOptions> = {}): Promise<FuzzReport> {
  const opts: FuzzOptions = { ...DEFAULT_FUZZ, ...input };
  const progress = opts.progress ?? (() => undefined);
  const started = Date.now();
  const env = await createEnvironment({ users: ['fuzz', 'alice', 'bob'], db: 'sqlite' });
  const tally: Tally = { codes: new Map(), inputs: new Map(), frames: 0, unanswered: 0, handshakeFailed: 0 };
  let server: ServerHandle | null = null;
  try {
    server = await spawnServer({ certs: env.certs, db: env.dbUrl, port: 0, logFile: join(env.dir, 'server.log'), logLevel: 'error', statsMs: 100, config: { maxHandshakesPerIp: 256 } });
    const port = server.port;
    const startRss = (await server.nextStats()).rss;
    const fuzzIdentity = env.identity('fuzz');
    // The fuzz account exists, so `login` in a fuzz connection reaches the handlers behind it.
    const setup = await ChatClient.connect({ host: '127.0.0.1', port, serverName: 'localhost', identity: fuzzIdentity, trust: env.trust });
    await setup.register(PASSWORD);
    await setup.groupCreate('fuzz-group');
    setup.close();

    // Plan the jobs up front from the seed, so concurrency never changes what is sent.
    const plan = new Random(opts.seed);
    // A post-handshake connection carries ~110 frames, a pre-handshake one 1: pick connections so
    // that `preShare` of the frames are pre-handshake.
    const preChance = (opts.preShare * 110) / (opts.preShare * 110 + (1 - opts.preShare));
    const jobs: Array<{ pre: boolean; frames: number; seed: number }> = [];
    for (let planned = 0; planned < opts.frames; ) {
      const pre = plan.chance(preChance);
      const frames = pre ? 1 : Math.min(opts.frames - planned, 20 + plan.int(180));
      jobs.push({ pre, frames, seed: plan.int(2 ** 31) });
      planned += frames;
    }
    let next = 0;
    let done = 0;
    const ticker = setInterval(() => {
      progress(`fuzz: ${tally.frames}/${opts.frames} frames, ${done}/${jobs.length} connections, server rss ${((server?.memory.lastRss ?? 0) / 1048576).toFixed(0)} MB`);
    }, 5000);
    ticker.unref();
    const worker = async (): Promise<void> => {
      while (next < jobs.length && server?.alive) {
        const job = jobs[next++];
        const rng = new Random(job.seed);
        try {
          if (job.pre) await preHandshakeJob(port, rng, tally);
          else await postHandshakeJob(port, { identity: fuzzIdentity }, rng, job.frames, tally);
        } catch (err) {
          bump(tally.codes, `client:${err instanceof Error && 'code' in err ? String(err.code) : String((err as Error)?.message).slice(0, 60)}`);
        }
        done++;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    clearInterval(ticker);

    const failures: string[] = [];
    let served = false;
    if (!server.alive) {
      const { code, signal } = await server.exited;
      failures.push(`the server process died (code ${code}, signal ${signal})`);
    } else {
      const why = await validClientServed(port, env);
      served = why === null;
      if (why) failures.push(why);
    }
    const endRss = server.alive ? (await server.nextStats()).rss : server.memory.lastRss;
    const bound = startRss + opts.maxRssGrowthMb * 1048576;
    if (server.memory.peakRss > bound) failures.push(`server peak RSS ${mb(server.memory.peakRss)} MB above the bound ${mb(bound)} MB`);
    if (tally.frames < opts.frames * 0.95) failures.push(`only ${tally.frames} of ${opts.frames} frames were sent`);
    const errorLines = countErrorLines(join(env.dir, 'server.log'));
    const { progress: _p, ...shownOptions } = opts;
    return {
      ok: failures.length === 0,
      failures,
      options: shownOptions,
      framesSent: tally.frames,
      connections: { preHandshake: jobs.filter((j) => j.pre).length, postHandshake: jobs.filter((j) => !j.pre).length, handshakeFailed: tally.handshakeFailed },
      serverCodes: Object.fromEntries([...tally.codes].sort((a, b) => b[1] - a[1])),
      inputs: Object.fromEntries([...tally.inputs].sort()),
      unansweredRequests: tally.unanswered,
      rssMb: { start: mb(startRss), peak: mb(server.memory.peakRss), end: mb(endRss), bound: mb(bound) },
      serverErrorLogLines: errorLines,
      validClientServed: served,
      elapsedSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    await server?.stop().catch(() => undefined);
    await env.dispose();
  }
}

function mb(bytes: number): number {
  return Math.round(bytes / 1048576);
}

/** Lines the server logged at level error (handler crashes and the like); the log is JSON lines. */
function countErrorLines(file: string): number {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"level":"error"')).length;
  } catch {
    return 0;
  }
}
