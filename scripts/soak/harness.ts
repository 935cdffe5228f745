/**
 * The soak run: a server process on a real database, N clients (each with its own certificate)
 * that register, join groups and send DMs and group messages at a bounded rate; midway the server
 * is SIGKILLed and restarted on the same port, database and certificates; clients reconnect with
 * backoff and log in again. After a drain period the ledger says whether every acknowledged
 * message reached every recipient exactly once.
 */
import { copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChatClient } from '../../src/client/chat-client.js';
import { toSecureChatError } from '../../src/errors.js';
import { createEnvironment, type RunEnvironment } from './environment.js';
import { Ledger, type Anomaly, type LedgerSummary } from './ledger.js';
import { Random } from './random.js';
import { spawnServer, type ServerHandle } from './server-handle.js';

export interface SoakOptions {
  clients: number;
  seconds: number;
  db: 'sqlite' | 'mysql';
  /** Messages per second per client (Poisson arrivals). */
  ratePerClient: number;
  /** How many times the server is SIGKILLed and restarted, evenly spread over the run. */
  kills: number;
  /** Longest wait, after sending stops, for acknowledged messages still in flight. */
  drainSeconds: number;
  seed: number;
  mysqlUrl?: string;
  /** Progress lines (stderr in the CLI, nothing in tests). */
  progress?: (line: string) => void;
}

export const DEFAULT_SOAK: SoakOptions = { clients: 200, seconds: 60, db: 'sqlite', ratePerClient: 1, kills: 1, drainSeconds: 30, seed: 1 };

export interface SoakReport extends LedgerSummary {
  ok: boolean;
  failures: string[];
  options: Omit<SoakOptions, 'progress' | 'mysqlUrl'>;
  groups: number;
  serverKills: number;
  reconnects: number;
  elapsedSeconds: number;
  drainSeconds: number;
  serverPeakRssMb: number;
  anomalies: Anomaly[];
  /** Where the server log was kept, when the run failed. */
  serverLog?: string;
}

const PASSWORD = 'soak password 1';
const SETUP_CONCURRENCY = 16;

interface SoakUser {
  name: string;
  groups: string[];
  client: ChatClient | null;
  seq: number;
  connecting: boolean;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Group k's members: each user is in `perUser` groups spread by a stride, so groups overlap. */
function planGroups(users: string[], groupCount: number, perUser: number): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (let k = 0; k < groupCount; k++) groups.set(`soak-g${k}`, []);
  users.forEach((u, i) => {
    const mine = new Set<number>();
    for (let j = 0; j < perUser; j++) mine.add((i + j * 7) % groupCount);
    for (const k of mine) groups.get(`soak-g${k}`)?.push(u);
  });
  for (const [name, members] of groups) if (members.length < 2) groups.delete(name);
  return groups;
}

export async function runSoak(input: Partial<SoakOptions> = {}): Promise<SoakReport> {
  const opts: SoakOptions = { ...DEFAULT_SOAK, ...input };
  const progress = opts.progress ?? (() => undefined);
  const rng = new Random(opts.seed);
  const names = Array.from({ length: opts.clients }, (_, i) => `user${i}`);
  const groupPlan = planGroups(names, Math.max(1, Math.round(opts.clients / 10)), Math.min(3, Math.max(1, Math.round(opts.clients / 10))));
  const users = new Map<string, SoakUser>(names.map((n) => [n, { name: n, groups: [], client: null, seq: 0, connecting: false }]));
  for (const [g, members] of groupPlan) for (const m of members) users.get(m)?.groups.push(g);

  progress(`soak: ${opts.clients} clients, ${groupPlan.size} groups, ${opts.seconds} s, ${opts.db}, ${opts.kills} SIGKILL(s); generating certificates…`);
  const env: RunEnvironment = await createEnvironment({ users: names, db: opts.db, ...(opts.mysqlUrl ? { mysqlUrl: opts.mysqlUrl } : {}) });
  const ledger = new Ledger();
  let server: ServerHandle | null = null;
  let stopping = false;
  let reconnects = 0;
  let serverKills = 0;
  let peakRss = 0;
  const inflight = new Set<Promise<unknown>>();
  const started = Date.now();

  const spawn = async (port: number): Promise<ServerHandle> =>
    spawnServer({
      certs: env.certs,
      db: env.dbUrl,
      port,
      logFile: join(env.dir, 'server.log'),
      logLevel: process.env.SECURECHAT_SOAK_LOG_LEVEL ?? 'warn',
      statsMs: 500,
      // Every soak client dials from 127.0.0.1: the per-IP handshake, password-hash and session caps must not be the bottleneck.
      config: { maxHandshakesPerIp: 256, passwordHashesPerIp: 64, maxSessionsPerIp: 1024 },
    });

  const openClient = async (user: SoakUser, register: boolean): Promise<void> => {
    if (!server) throw new Error('no server');
    const client = await ChatClient.connect({
      host: '127.0.0.1',
      port: server.port,
      serverName: 'localhost',
      identity: env.identity(user.name),
      trust: env.trust,
      connectTimeoutMs: 5000,
      handshakeTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
    });
    const conn = ledger.newConnection();
    // Record what the server confirmed for our acks: a replay at or below it is a duplicate.
    const connection = client.connection;
    const request = connection.request.bind(connection);
    connection.request = (<T>(type: string, params: Record<string, unknown> = {}, data?: Buffer): Promise<T> => {
      const p = request<T>(type, params, data);
      if (type === 'ack') {
        p.then(
          (r) => ledger.confirmAck(user.name, params.conversation_id as number, (r as { upto: number }).upto),
          () => undefined,
        );
      }
      return p;
    }) as typeof connection.request;
    client.consume((ev) => {
      if (ev.type === 'message') ledger.arrived(user.name, conn, ev.message);
    });
    client.on('warning', () => undefined);
    client.on('close', () => {
      if (user.client === client) user.client = null;
      if (!stopping) void reconnect(user);
    });
    try {
      if (register) await client.register(PASSWORD);
      else await client.login(PASSWORD);
    } catch (err) {
      client.close();
      throw err;
    }
    user.client = client;
  };

  const reconnect = async (user: SoakUser): Promise<void> => {
    if (user.connecting) return;
    user.connecting = true;
    let delay = 100;
    try {
      while (!stopping) {
        await sleep(delay * (0.5 + rng.next()));
        if (stopping) return;
        try {
          await openClient(user, false);
          reconnects++;
          return;
        } catch {
          delay = Math.min(delay * 2, 2000);
        }
      }
    } finally {
      user.connecting = false;
    }
  };

  const sendOne = (user: SoakUser): void => {
    const client = user.client;
    if (!client || client.closed) return;
    const useGroup = user.groups.length > 0 && rng.chance(0.5);
    const token = `${user.name}.${++user.seq}`;
    const text = `soak:${token} ${'x'.repeat(rng.int(160))}`;
    let rec;
    let p: Promise<unknown>;
    if (useGroup) {
      const group = rng.pick(user.groups);
      rec = ledger.record(token, user.name, 'group', (groupPlan.get(group) ?? []).filter((m) => m !== user.name));
      p = client.groupSend(group, text);
    } else {
      let to = rng.pick(names);
      while (to === user.name) to = rng.pick(names);
      rec = ledger.record(token, user.name, 'dm', [to]);
      p = client.dm(to, text);
    }
    const sent = rec;
    const tracked = p.then(
      () => ledger.acked(sent),
      (err: unknown) => ledger.failed(sent, toSecureChatError(err).code),
    );
    inflight.add(tracked);
    void tracked.finally(() => inflight.delete(tracked));
  };

  const senderLoop = async (user: SoakUser, until: number): Promise<void> => {
    const mean = 1000 / opts.ratePerClient;
    while (!stopping && Date.now() < until) {
      await sleep(Math.min(rng.exponential(mean), until - Date.now() + 1));
      if (Date.now() >= until) return;
      sendOne(user);
    }
  };

  let report: SoakReport | undefined;
  try {
    server = await spawn(0);
    const port = server.port;
    const all = [...users.values()];
    await mapLimit(all, SETUP_CONCURRENCY, (u) => openClient(u, true));
    for (const [group, members] of groupPlan) {
      const owner = users.get(members[0])?.client;
      if (!owner) throw new Error(`owner of ${group} is not connected`);
      await owner.groupCreate(group);
      await mapLimit(members.slice(1), 4, (m) => owner.groupAdd(group, m));
    }
    progress(`soak: setup done in ${((Date.now() - started) / 1000).toFixed(1)} s; sending`);

    const sendStart = Date.now();
    const sendUntil = sendStart + opts.seconds * 1000;
    const senders = all.map((u) => senderLoop(u, sendUntil));
    const ticker = setInterval(() => {
      const s = ledger.summary();
      const online = all.filter((u) => u.client && !u.client.closed).length;
      progress(`soak: t=${Math.round((Date.now() - sendStart) / 1000)}s sent=${s.sent} acked=${s.acknowledged} delivered=${s.delivered}/${s.expectedDeliveries} online=${online}/${all.length} rss=${((server?.memory.lastRss ?? 0) / 1048576).toFixed(0)}MB`);
    }, 5000);
    ticker.unref();

    for (let k = 1; k <= opts.kills; k++) {
      const at = sendStart + (opts.seconds * 1000 * k) / (opts.kills + 1);
      await sleep(Math.max(0, at - Date.now()));
      peakRss = Math.max(peakRss, server.memory.peakRss);
      progress(`soak: SIGKILL server pid ${server.pid} at t=${((Date.now() - sendStart) / 1000).toFixed(1)}s`);
      await server.kill();
      serverKills++;
      await sleep(300);
      server = await spawn(port);
      progress(`soak: server restarted as pid ${server.pid} on port ${port}`);
    }
    await Promise.all(senders);

    // Drain: responses first, then arrivals; clients stay connected (and keep reconnecting).
    const drainStart = Date.now();
    const drainUntil = drainStart + opts.drainSeconds * 1000;
    while (inflight.size > 0 && Date.now() < drainUntil) await Promise.race([Promise.allSettled([...inflight]), sleep(200)]);
    // Every client logs in again after the last kill (its backoff can outlast the message drain):
    // wait for that, so `reconnects` is counted once it has happened, not when a timer says so.
    while (all.some((u) => !u.client || u.client.closed) && Date.now() < drainUntil) await sleep(50);
    while (ledger.missing() > 0 && Date.now() < drainUntil) await sleep(100);
    // A little longer, so a late duplicate of something already delivered is still caught.
    await sleep(500);
    const drainSeconds = (Date.now() - drainStart) / 1000;
    clearInterval(ticker);
    peakRss = Math.max(peakRss, server.memory.peakRss);

    const summary = ledger.summary();
    const failures: string[] = [];
    if (summary.lost > 0) failures.push(`${summary.lost} acknowledged deliveries lost`);
    if (summary.duplicates > 0) failures.push(`${summary.duplicates} duplicates`);
    if (summary.misdelivered > 0) failures.push(`${summary.misdelivered} misdelivered`);
    if (summary.outOfOrder > 0) failures.push(`${summary.outOfOrder} out of order`);
    if (summary.acknowledged === 0) failures.push('nothing was acknowledged');
    if (serverKills < opts.kills) failures.push(`only ${serverKills} of ${opts.kills} server kills happened`);
    if (!server.alive) failures.push('the restarted server died');
    const { progress: _p, mysqlUrl: _m, ...shownOptions } = opts;
    report = {
      ok: failures.length === 0,
      failures,
      options: shownOptions,
      groups: groupPlan.size,
      serverKills,
      reconnects,
      elapsedSeconds: (Date.now() - started) / 1000,
      drainSeconds,
      serverPeakRssMb: Math.round(peakRss / 1048576),
      ...summary,
      anomalies: ledger.anomalies.slice(0, 50),
    };
    return report;
  } finally {
    stopping = true;
    for (const u of users.values()) u.client?.close();
    await server?.stop().catch(() => undefined);
    if (!report || !report.ok || process.env.SECURECHAT_SOAK_KEEP_LOG === '1') {
      // Keep the server's log for the investigation; everything else is thrown away.
      const kept = join(tmpdir(), `securechat-soak-server-${Date.now()}.log`);
      try {
        copyFileSync(join(env.dir, 'server.log'), kept);
        if (report) report.serverLog = kept;
        else progress(`soak: server log kept at ${kept}`);
      } catch {
        // no log written
      }
    }
    await env.dispose();
  }
}
