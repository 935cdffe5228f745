/**
 * `npm run fuzz -- --mode hostile`: issue 10's attacks all at once against a real server process
 * (default limits, except a 64 MiB quota and 32 + 16 MiB file memory budgets so the quota and
 * file-memory attacks reach them within the run), each
 * attacker in its own process (flood-worker.ts) — clients that never read (large history pages;
 * pings before login), a flood of every request type at once, malformed hellos on fresh
 * connections, unfinished uploads that sit in the spool, and uploads to an offline recipient up to
 * the quota, and files stored then downloaded by sessions that never read — while a well-behaved
 * client (alice → bob) measures its DM round trip.
 * Reports the server's peak RSS and the round trip's p50/p99 idle and under attack.
 * Pass = the server stays up under its RSS bound and every well-behaved DM is delivered.
 */
import { join } from 'node:path';
import { SecureChatClient } from '../../src/client/client.js';
import { percentile } from '../bench/stats.js';
import { createEnvironment, type RunEnvironment } from '../soak/environment.js';
import { spawnServer, type ServerHandle } from '../soak/server-handle.js';
import { spawnFlood, type FloodResult } from './flood-process.js';
import type { FloodArgs } from './flood-worker.js';
import { FLOOD_KINDS } from './floods.js';
import { dmRoundTrip } from './round-trip.js';

export const ATTACK_IDS = ['history-unread', 'ping-unread', 'every-type', 'bad-hello', 'spool', 'quota', 'file-memory'] as const;
export type AttackId = (typeof ATTACK_IDS)[number];

export interface HostileOptions {
  seconds: number;
  /** Which attacks to run (default: all at once). */
  attacks: AttackId[];
  /** Fail when the server's peak RSS exceeds its RSS before the attack by more than this. */
  maxRssGrowthMb: number;
  progress?: (line: string) => void;
}

export const DEFAULT_HOSTILE: HostileOptions = { seconds: 30, attacks: [...ATTACK_IDS], maxRssGrowthMb: 256 };

export interface RoundTrips {
  count: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
}

export interface AttackerReport {
  id: AttackId;
  attack: string;
  user: string;
  sessions: number;
  sent: number;
  /** The most frequent answers (response codes, push types, upload outcomes). */
  answers: Record<string, number>;
  error?: string;
}

export interface HostileReport {
  ok: boolean;
  failures: string[];
  options: Omit<HostileOptions, 'progress'>;
  rssMb: { start: number; peak: number; end: number; bound: number };
  dmRoundTripMs: { idle: RoundTrips; underAttack: RoundTrips };
  attackers: AttackerReport[];
  serverAlive: boolean;
  elapsedSeconds: number;
}

const PASSWORD = 'correct horse battery staple';
/** File memory budgets scaled down (defaults 256 + 64 MiB) so the file-memory attack reaches them within the RSS bound. */
const FILE_BUDGETS = { maxDownloadBytes: 32 * 1024 * 1024, recentFilesBytes: 16 * 1024 * 1024 };
const MiB = 1024 * 1024;
const USERS = ['alice', 'bob', 'mallory', 'carol', 'dave', 'eve', 'frank', 'grace', 'heidi'];

interface Attack {
  id: AttackId;
  name: string;
  args: Omit<FloodArgs, 'port' | 'certs'>;
}

/** The attackers; `ms` is the run's length (upload attacks run their files, then hold the spool). */
function attacks(ms: number): Attack[] {
  return [
    { id: 'history-unread', name: 'never reads: 1 MiB history pages', args: { user: 'mallory', password: PASSWORD, kind: 'history', ms, read: false, peer: 'alice', sessions: 4 } },
    { id: 'ping-unread', name: 'never reads: pings before login', args: { user: 'carol', kind: 'ping', ms, read: false, sessions: 4 } },
    { id: 'every-type', name: `every request type (${FLOOD_KINDS.join(', ')})`, args: { user: 'dave', password: PASSWORD, kind: 'mixed', ms, read: true, peer: 'alice', sessions: FLOOD_KINDS.length } },
    { id: 'bad-hello', name: 'malformed hellos (all-zero key share)', args: { user: 'eve', kind: 'bad_hello', ms, read: true, sessions: 4 } },
    { id: 'spool', name: 'unfinished 10 MiB uploads (spool)', args: { user: 'frank', password: PASSWORD, kind: 'unfinished_uploads', ms, read: true, peer: 'bob', sessions: 12, files: 4, fileBytes: 10 * MiB, holdMs: 10 * ms } },
    { id: 'quota', name: 'uploads to an offline user (quota)', args: { user: 'grace', password: PASSWORD, kind: 'quota', ms, read: true, peer: 'eve', sessions: 2, files: 24, fileBytes: 4 * MiB } },
    // 6 sessions × 2 stalled downloads of an 8 MiB file ask for 96 MiB against 32 + 16 MiB (FILE_BUDGETS).
    { id: 'file-memory', name: 'stores files, then downloads them without reading', args: { user: 'heidi', password: PASSWORD, kind: 'file_memory', ms, read: true, peer: 'bob', sessions: 6, files: 1, fileBytes: 8 * MiB, holdMs: 10 * ms } },
  ];
}

/** Upload-shaped attacks run their files (not `ms`), then hold what they made the server keep. */
function isUploadAttack(a: Attack): boolean {
  return a.args.kind === 'unfinished_uploads' || a.args.kind === 'quota' || a.args.kind === 'file_memory';
}

function summarize(samples: number[], failed: number): RoundTrips {
  const sorted = [...samples].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { count: sorted.length, failed, p50: r(percentile(sorted, 50)), p99: r(percentile(sorted, 99)), max: r(sorted[sorted.length - 1] ?? NaN) };
}

/** alice → bob round trips, one every `paceMs` (inside alice's own rate limit), until `stop()`. */
function measure(alice: SecureChatClient, bob: SecureChatClient, paceMs: number): { stop(): Promise<RoundTrips> } {
  const samples: number[] = [];
  let failed = 0;
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        samples.push(await dmRoundTrip(alice, bob, 'bob', `hostile-rt ${n++}`, 30_000));
      } catch {
        failed++;
      }
      const wait = paceMs - (performance.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return summarize(samples, failed);
    },
  };
}

async function connect(env: RunEnvironment, port: number, user: string): Promise<SecureChatClient> {
  const client = await SecureChatClient.connect({ host: '127.0.0.1', port, serverName: 'localhost', identity: env.identity(user), trust: env.trust, requestTimeoutMs: 30_000 });
  return client;
}

function topAnswers(tally: Record<string, number>, n = 8): Record<string, number> {
  return Object.fromEntries(Object.entries(tally).sort((a, b) => b[1] - a[1]).slice(0, n));
}

export async function runHostile(input: Partial<HostileOptions> = {}): Promise<HostileReport> {
  const opts: HostileOptions = { ...DEFAULT_HOSTILE, ...input };
  const progress = opts.progress ?? (() => undefined);
  const started = Date.now();
  const env = await createEnvironment({ users: USERS, db: 'sqlite' });
  let server: ServerHandle | null = null;
  const workers: ReturnType<typeof spawnFlood>[] = [];
  try {
    server = await spawnServer({ certs: env.certs, db: env.dbUrl, port: 0, logFile: join(env.dir, 'server.log'), logLevel: 'warn', statsMs: 50, config: { userQuotaBytes: 64 * MiB, ...FILE_BUDGETS } });
    const port = server.port;
    // Accounts, and a DM history of ~1 MiB pages for the history flood (20 × 60 KiB).
    for (const user of USERS) {
      const c = await connect(env, port, user);
      await c.request('register', { password: PASSWORD });
      if (user === 'mallory') for (let i = 0; i < 20; i++) await c.request('dm', { to: 'alice', text: `${i}:${'h'.repeat(60 * 1024)}` });
      c.close();
    }
    const alice = await connect(env, port, 'alice');
    const bob = await connect(env, port, 'bob');
    await alice.request('login', { password: PASSWORD });
    await bob.request('login', { password: PASSWORD });
    progress('hostile: measuring the idle round trip');
    const idleRun = measure(alice, bob, 50);
    await new Promise((r) => setTimeout(r, 3000));
    const idle = await idleRun.stop();
    const startRss = (await server.nextStats()).rss;
    server.memory.peakRss = startRss;

    const plan = attacks(opts.seconds * 1000).filter((a) => opts.attacks.includes(a.id));
    progress(`hostile: ${plan.length} attackers for ${opts.seconds} s`);
    for (const a of plan) workers.push(spawnFlood({ port, certs: env.certs, ...a.args }));
    await Promise.all(workers.map((w) => w.started));
    const attackRun = measure(alice, bob, 50);
    const ticker = setInterval(() => progress(`hostile: server rss ${mb(server?.memory.lastRss ?? 0)} MB (peak ${mb(server?.memory.peakRss ?? 0)} MB)`), 5000);
    ticker.unref();
    const floods = workers.map((w, i) => (isUploadAttack(plan[i]) ? null : w.done));
    await Promise.all(floods.filter((f) => f !== null));
    // The upload attackers may still be sending; give them until twice the run's length.
    const uploads = workers.filter((_, i) => floods[i] === null).map((w) => w.done);
    await Promise.race([Promise.all(uploads), new Promise((r) => setTimeout(r, opts.seconds * 1000))]);
    const underAttack = await attackRun.stop();
    clearInterval(ticker);
    const results = await Promise.all(
      workers.map((w, i) => Promise.race([w.done, new Promise<FloodResult>((r) => setTimeout(() => r({ kind: String(plan[i].args.kind), sent: 0, responses: 0, tally: {}, closedWith: null, error: 'still running at the end' }), 100))])),
    );
    await Promise.all(workers.map((w) => w.stop()));
    alice.close();
    bob.close();

    const failures: string[] = [];
    const alive = server.alive;
    if (!alive) failures.push('the server process died');
    const endRss = alive ? (await server.nextStats()).rss : server.memory.lastRss;
    const bound = startRss + opts.maxRssGrowthMb * MiB;
    if (server.memory.peakRss > bound) failures.push(`server peak RSS ${mb(server.memory.peakRss)} MB above the bound ${mb(bound)} MB`);
    if (underAttack.failed > 0) failures.push(`${underAttack.failed} well-behaved DMs were not delivered within 30 s`);
    if (underAttack.count === 0) failures.push('no well-behaved DM completed during the attack');
    for (const [i, r] of results.entries()) if (r.error && r.error !== 'still running at the end') failures.push(`attacker "${plan[i].name}" failed: ${r.error}`);
    return {
      ok: failures.length === 0,
      failures,
      options: { seconds: opts.seconds, attacks: plan.map((a) => a.id), maxRssGrowthMb: opts.maxRssGrowthMb },
      rssMb: { start: mb(startRss), peak: mb(server.memory.peakRss), end: mb(endRss), bound: mb(bound) },
      dmRoundTripMs: { idle, underAttack },
      attackers: results.map((r, i) => ({
        id: plan[i].id,
        attack: plan[i].name,
        user: plan[i].args.user,
        sessions: plan[i].args.sessions ?? 1,
        sent: r.sent,
        answers: topAnswers(r.tally ?? {}),
        ...(r.error ? { error: r.error } : {}),
      })),
      serverAlive: alive,
      elapsedSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await server?.stop().catch(() => undefined);
    await env.dispose();
  }
}

function mb(bytes: number): number {
  return Math.round(bytes / MiB);
}
