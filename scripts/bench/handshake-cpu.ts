/**
 * Precise server CPU per full mutual-certificate handshake (issue 6), in two parts:
 *
 *   end-to-end  a forked server process runs createChatServer (SQLite, silent logger, the bench's
 *               raised limits) on 127.0.0.1:0; this process runs `--count` real client handshakes
 *               (clientHandshake over TCP, wait for welcome, close) at `--concurrency`, in
 *               `--rounds` rounds after a warm-up. The server reports process.cpuUsage() around
 *               each round, so the figure is server CPU only; the median round is reported.
 *   stages      in this process, the real serverHandshake against the real clientHandshake over
 *               in-memory streams, timed step by step through its onStage hook (the steps are
 *               SERVER_HANDSHAKE_STAGES), plus the Session that SecureChatServer builds: median
 *               and mean µs per step. The `wait:` steps hold the client's work and are not
 *               summed. What the steps do not cover (socket accept/read/write, timers, GC,
 *               session teardown) is the difference to the end-to-end figure.
 *
 *   npx tsx scripts/bench/handshake-cpu.ts [--count 2000] [--concurrency 16] [--rounds 3]
 *                                          [--users 8] [--stages-only | --e2e-only] [--json] [--profile DIR]
 */
import 'reflect-metadata';
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../../src/log.js';
import { clientHandshake, serverHandshake } from '../../src/protocol/handshake.js';
import { SERVER_HANDSHAKE_STAGES } from '../../src/protocol/handshake-server.js';
import { ReplayGuard } from '../../src/protocol/replay-guard.js';
import { DEFAULT_LIMITS, type ServerLimits } from '../../src/server/server.js';
import { Session, identityFromPath, type PeerIdentity } from '../../src/server/session.js';
import { loadServerIdentity } from '../../src/server/start.js';
import { duplexPair } from '../../test/helpers/protocol-fixtures.js';
import { benchUser, makeBenchPki, type BenchPki } from './pki.js';
import { runLoops } from './stats.js';

const SELF = fileURLToPath(import.meta.url);

/** The same raised limits as server-proc.ts (importing it would run that process's main). */
const BENCH_LIMITS: Partial<ServerLimits> = {
  maxHandshakes: 100_000,
  maxHandshakesPerIp: 100_000,
  rate: { requestsPerSecond: 1e9, burst: 1e9, maxInflightBytes: 64 * 1024 * 1024 },
  userRate: { requestsPerSecond: 0, burst: 0 },
};

// ---------------------------------------------------------------- server process (forked)

async function serverMain(): Promise<void> {
  const { createChatServer } = await import('../../src/server/app.js');
  const { loadTrust } = await import('../../src/server/start.js');
  const { openStorage } = await import('../../src/storage/index.js');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const certsDir = process.argv[3];
  const dataDir = mkdtempSync(join(tmpdir(), 'securechat-hscpu-'));
  const log = silentLogger();
  const storage = await openStorage(`sqlite:${join(dataDir, 'chat.db')}`, { log });
  const { trust, crlFile } = loadTrust(certsDir);
  const server = createChatServer({ identity: loadServerIdentity(certsDir), trust, ...(crlFile ? { crlFile } : {}), storage, log, limits: BENCH_LIMITS });
  const { port } = await server.listen(0, '127.0.0.1');
  process.on('message', (raw) => {
    const msg = raw as { cmd: string };
    if (msg.cmd === 'mark') {
      const cpu = process.cpuUsage();
      process.send?.({ cmd: 'mark', user: cpu.user, system: cpu.system, sessions: server.sessions.size });
    } else if (msg.cmd === 'stop') {
      void server.close().then(async () => {
        await storage.close();
        rmSync(dataDir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ cmd: 'ready', port });
}

// ---------------------------------------------------------------- end-to-end (load generator side)

interface RoundResult {
  count: number;
  userUs: number;
  systemUs: number;
  seconds: number;
}

async function endToEnd(pki: BenchPki, opts: { count: number; concurrency: number; rounds: number; users: number; profileDir?: string }): Promise<RoundResult[]> {
  // The server process gets the same raw node flags as this one (tsx loader), nothing else.
  const execArgv = ['--import', 'tsx', ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [])];
  const child = fork(SELF, ['server', pki.dir], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies: ((m: Record<string, number>) => void)[] = [];
  child.on('message', (m) => replies.shift()?.(m as Record<string, number>));
  const next = (): Promise<Record<string, number>> => new Promise((resolve) => replies.push(resolve));
  const { port } = await next();
  const mark = async (): Promise<Record<string, number>> => {
    const reply = next();
    child.send({ cmd: 'mark' });
    return reply;
  };
  let n = 0;
  const one = async (): Promise<void> => {
    const user = benchUser(n++ % opts.users);
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const channel = await clientHandshake(socket, {
      identity: pki.identity(user),
      verifyPeer: (chain) => pki.trust.verifyDer(chain, { purpose: 'server', hostname: 'localhost' })[0].subject,
    });
    channel.close();
  };
  const settle = async (): Promise<void> => {
    // Let the server finish tearing down the sessions of the previous round before marking.
    for (let i = 0; i < 200 && (await mark()).sessions > 0; i++) await new Promise((r) => setTimeout(r, 10));
  };
  // Warm-up: JIT, caches (ParsedCert, leaf keys), allocator; round 1 after a short warm-up read ~30 % high.
  await runLoops(opts.concurrency, Infinity, one, opts.count);
  await settle();
  const results: RoundResult[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const before = await mark();
    const t0 = performance.now();
    const count = await runLoops(opts.concurrency, Infinity, one, opts.count);
    const seconds = (performance.now() - t0) / 1000;
    await settle();
    const after = await mark();
    results.push({ count, userUs: after.user - before.user, systemUs: after.system - before.system, seconds });
    process.stderr.write(
      `round ${r + 1}: ${count} handshakes in ${seconds.toFixed(2)} s, server CPU ${((after.user - before.user + after.system - before.system) / count).toFixed(0)} µs/handshake\n`,
    );
  }
  child.send({ cmd: 'stop' });
  await new Promise((resolve) => child.once('exit', resolve));
  return results;
}

// ---------------------------------------------------------------- stages (in process)

/** The server handshake's own steps (its onStage hook), then what SecureChatServer adds. */
const STAGES = [...SERVER_HANDSHAKE_STAGES, 'Session construction'] as const;
type Stage = (typeof STAGES)[number];
/** Time spent waiting for the client (whose work runs then, in this process): shown, not summed. */
const isWait = (stage: string): boolean => stage.startsWith('wait:');

async function stages(pki: BenchPki, opts: { count: number; users: number }): Promise<Record<Stage, { median: number; mean: number }>> {
  const serverIdentity = loadServerIdentity(pki.dir);
  const log = silentLogger();
  const replayGuard = new ReplayGuard({ windowMs: DEFAULT_LIMITS.replayWindowMs, maxEntries: DEFAULT_LIMITS.replayCacheSize });
  const samples = new Map<Stage, number[]>(STAGES.map((s) => [s, []]));
  const warmup = Math.min(300, opts.count);
  const sessions: Session[] = [];

  for (let i = 0; i < warmup + opts.count; i++) {
    const record = i >= warmup;
    const [serverSide, clientSide] = duplexPair({ deferred: true });
    let t = performance.now();
    const lap = (stage: string): void => {
      const now = performance.now();
      if (record) samples.get(stage as Stage)?.push((now - t) * 1000);
      t = now;
    };
    // The real serverHandshake, as SecureChatServer calls it (verifyPeer = its verifyClient).
    const server = serverHandshake<PeerIdentity>(serverSide, {
      identity: serverIdentity,
      replayGuard,
      sessionId: randomUUID(),
      log,
      maxFrameSize: DEFAULT_LIMITS.maxFrameSize,
      verifyPeer: (chain) => identityFromPath(pki.trust.verifyDer(chain, { purpose: 'client' })),
      onStage: lap,
    });
    const client = clientHandshake(clientSide, {
      identity: pki.identity(benchUser(i % opts.users)),
      verifyPeer: (chain) => pki.trust.verifyDer(chain, { purpose: 'server', hostname: 'localhost' })[0].subject,
    });
    const [channel] = await Promise.all([server, client]);
    t = performance.now();
    sessions.push(new Session(channel, { ...DEFAULT_LIMITS, ip: '127.0.0.1', log }));
    lap('Session construction');
    if (sessions.length >= 64) {
      for (const s of sessions.splice(0)) s.channel.close();
      await new Promise((r) => setImmediate(r));
    }
  }
  for (const s of sessions.splice(0)) s.channel.close();
  const out = {} as Record<Stage, { median: number; mean: number }>;
  for (const [stage, list] of samples) {
    if (list.length === 0) throw new Error(`the handshake never reported the stage "${stage}": SERVER_HANDSHAKE_STAGES and serverHandshake disagree`);
    list.sort((a, b) => a - b);
    out[stage] = { median: list[Math.floor(list.length / 2)], mean: list.reduce((s, v) => s + v, 0) / list.length };
  }
  return out;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '3' },
      users: { type: 'string', default: '8' },
      'stages-only': { type: 'boolean', default: false },
      'e2e-only': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      profile: { type: 'string' },
    },
  });
  const count = Number(values.count);
  const users = Number(values.users);
  const pki = await makeBenchPki(users);
  const report: Record<string, unknown> = { count, users };

  if (!values['stages-only']) {
    const rounds = await endToEnd(pki, { count, concurrency: Number(values.concurrency), rounds: Number(values.rounds), users, ...(values.profile ? { profileDir: values.profile } : {}) });
    const perHs = rounds.map((r) => ({ user: r.userUs / r.count, system: r.systemUs / r.count, total: (r.userUs + r.systemUs) / r.count, rate: r.count / r.seconds }));
    const sorted = [...perHs].sort((a, b) => a.total - b.total);
    report['endToEnd'] = { rounds: perHs, median: sorted[Math.floor(sorted.length / 2)], concurrency: Number(values.concurrency) };
  }
  if (!values['e2e-only']) report['stages'] = await stages(pki, { count, users });
  rmSync(pki.dir, { recursive: true, force: true });

  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const e2e = report['endToEnd'] as { median: { user: number; system: number; total: number; rate: number } } | undefined;
  if (e2e) {
    const m = e2e.median;
    console.log(`end-to-end, server CPU per handshake (median of rounds): ${m.total.toFixed(0)} µs (user ${m.user.toFixed(0)}, system ${m.system.toFixed(0)}); ${m.rate.toFixed(0)} handshakes/s`);
  }
  const st = report['stages'] as Record<Stage, { median: number; mean: number }> | undefined;
  if (st) {
    console.log('\nstage                                      median µs   mean µs');
    let sumMed = 0;
    let sumMean = 0;
    for (const s of STAGES) {
      if (!isWait(s)) {
        sumMed += st[s].median;
        sumMean += st[s].mean;
      }
      console.log(`${(isWait(s) ? `(${s}, not summed)` : s).padEnd(42)} ${st[s].median.toFixed(1).padStart(9)} ${st[s].mean.toFixed(1).padStart(9)}`);
    }
    console.log(`${'sum of server stages'.padEnd(42)} ${sumMed.toFixed(1).padStart(9)} ${sumMean.toFixed(1).padStart(9)}`);
    if (e2e) console.log(`${'not in stages (socket, event loop, GC, …)'.padEnd(42)} ${(e2e.median.total - sumMean).toFixed(0).padStart(19)}`);
  }
}

if (process.argv[2] === 'server') void serverMain();
else
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
