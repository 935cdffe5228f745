/**
 * The soak run: a server process on a real database, N clients (each with its own certificate)
 * that register, join groups and send DMs and group messages at a bounded rate; midway the server
 * is SIGKILLed and restarted on the same port, database and certificates; clients reconnect with
 * backoff and log in again. After a drain period the ledger says whether every acknowledged
 * message reached every recipient exactly once.
 *
 * Cluster mode (`nodes` > 1 with `cluster`): the clients are spread over real `securechat serve`
 * nodes on one MySQL database and one bus; midway one node is SIGKILLed (its clients reconnect to
 * the other nodes) and restarted after `downSeconds`, or with `restartBus` the bus is killed and
 * started again instead. Besides the ledger it measures reconnect times and presence convergence
 * (presence.ts) — docs/RELIABILITY.md "Cluster soak".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ChatClient } from '../../src/client/chat-client.js';
import { toSecureChatError } from '../../src/errors.js';
import { parseBusSpec } from './bus.js';
import { createEnvironment, type RunEnvironment } from './environment.js';
import { Fleet, MAX_NODES } from './fleet.js';
import { Ledger, type Anomaly, type LedgerSummary } from './ledger.js';
import { PresenceTruth, presenceAfter, probeCorrect, type PresenceConvergence, type SessionSpan } from './presence.js';
import { PresenceProbes, probeUser } from './probes.js';
import { Random } from './random.js';
import { percentile } from './stats.js';

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
  /** Server processes: 1, or several cluster nodes (needs `cluster` and db mysql). */
  nodes: number;
  /**
   * The bus of a cluster run: `redis` / `nats` (the soak starts its own server on a free port), or
   * `redis://host:port` / `nats://host:port` (used under a fresh namespace; never restarted).
   */
  cluster?: string;
  /** Cluster: kill and restart the bus (always the soak's own server) instead of a node. */
  restartBus: boolean;
  /** Cluster: how long the killed node (default 12 s) or bus (default 3 s) stays down. */
  downSeconds?: number;
  /** Progress lines (stderr in the CLI, nothing in tests). */
  progress?: (line: string) => void;
}

export const DEFAULT_SOAK: SoakOptions = { clients: 200, seconds: 60, db: 'sqlite', ratePerClient: 1, kills: 1, drainSeconds: 30, seed: 1, nodes: 1, restartBus: false };

/** Pass limits of a cluster run (issue 14). */
export const RECONNECT_P99_LIMIT_MS = 5000;
export const PRESENCE_LIMIT_SECONDS = 10;
/**
 * A killed node stays down longer than the lease (6 s) + one presence poll (1 s) + margin, so its
 * users leave the listings by the lease, not by its restart (which clears its old entries at once).
 */
export const DEFAULT_NODE_DOWN_SECONDS = 12;
export const DEFAULT_BUS_DOWN_SECONDS = 3;
/** After a bus restart, presence is observed this much longer than the limit (to see it stays right). */
const BUS_PRESENCE_WINDOW_SECONDS = PRESENCE_LIMIT_SECONDS + 2;
/** The final check: every node's `who` exactly right within this long after the drain. */
const END_PRESENCE_TIMEOUT_MS = 15_000;

export interface ClusterEvent {
  kind: 'node_kill' | 'bus_restart';
  /** The node's name, or the bus kind. */
  target: string;
  /** Seconds after sending started. */
  atSeconds: number;
  /** How long it was down until started again. */
  downSeconds: number;
  /** node_kill: soak users whose session was on the node at the kill. */
  usersOnTarget: number;
  presence: PresenceConvergence;
}

export interface ClusterReport {
  nodes: string[];
  bus: string;
  mode: 'kill-node' | 'restart-bus';
  events: ClusterEvent[];
  /** From a client seeing its connection drop to logging in again (on another node), ms. */
  reconnect: { count: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
  presence: {
    probes: number;
    incorrectProbes: number;
    endCorrectSeconds: number | null;
    /** The last few incorrect probes, described (node, time, stale / missing users). */
    lastIncorrect: string[];
  };
  /** Soak users logged in at the end, per node. */
  usersPerNode: Record<string, number>;
  nodePeakRssMb: Record<string, number>;
}

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
  /** The first acknowledged deliveries that never arrived (message token, recipient, times). */
  lostDetail: string[];
  /** Where the server log (cluster: a directory of node logs) was kept, when the run failed. */
  serverLog?: string;
  cluster?: ClusterReport;
}

const PASSWORD = 'soak password 1';
const SETUP_CONCURRENCY = 16;

interface SoakUser {
  name: string;
  groups: string[];
  client: ChatClient | null;
  seq: number;
  connecting: boolean;
  /** Nodes this client dials, in order (fleet.orderFor), and the position of the last one used. */
  order: number[];
  at: number;
  /** When the current drop was seen (null while connected). */
  droppedAt: number | null;
}

function checkOptions(o: SoakOptions): void {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > MAX_NODES) throw new Error(`nodes must be 1..${MAX_NODES}`);
  if (o.cluster === undefined) {
    if (o.nodes > 1) throw new Error('several nodes need a bus: --cluster redis|nats|redis://…|nats://…');
    if (o.restartBus) throw new Error('--restart-bus needs --cluster');
    return;
  }
  parseBusSpec(o.cluster);
  if (o.db !== 'mysql') throw new Error('a cluster needs one shared database: --db mysql');
  if (o.nodes < 2) throw new Error('a cluster soak needs --nodes 2 or more (a killed node\'s clients move to the others)');
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
  checkOptions(opts);
  const progress = opts.progress ?? (() => undefined);
  const clustered = opts.cluster !== undefined;
  const downSeconds = opts.downSeconds ?? (opts.restartBus ? DEFAULT_BUS_DOWN_SECONDS : DEFAULT_NODE_DOWN_SECONDS);
  const rng = new Random(opts.seed);
  const names = Array.from({ length: opts.clients }, (_, i) => `user${i}`);
  const probeNames = clustered ? Array.from({ length: opts.nodes }, (_, i) => probeUser(i)) : [];
  const groupPlan = planGroups(names, Math.max(1, Math.round(opts.clients / 10)), Math.min(3, Math.max(1, Math.round(opts.clients / 10))));
  const users = new Map<string, SoakUser>(names.map((n) => [n, { name: n, groups: [], client: null, seq: 0, connecting: false, order: [0], at: 0, droppedAt: null }]));
  for (const [g, members] of groupPlan) for (const m of members) users.get(m)?.groups.push(g);

  const what = clustered ? `${opts.nodes} nodes on ${opts.cluster}, ${opts.restartBus ? `${opts.kills} bus restart(s)` : `${opts.kills} node SIGKILL(s)`}` : `${opts.kills} SIGKILL(s)`;
  progress(`soak: ${opts.clients} clients, ${groupPlan.size} groups, ${opts.seconds} s, ${opts.db}, ${what}; generating certificates…`);
  const env: RunEnvironment = await createEnvironment({ users: [...names, ...probeNames], db: opts.db, ...(opts.mysqlUrl ? { mysqlUrl: opts.mysqlUrl } : {}) });
  const ledger = new Ledger();
  const truth = new PresenceTruth(names);
  let fleet: Fleet | null = null;
  let probes: PresenceProbes | null = null;
  let stopping = false;
  let reconnects = 0;
  let serverKills = 0;
  const reconnectMs: number[] = [];
  const events: ClusterEvent[] = [];
  const inflight = new Set<Promise<unknown>>();
  const started = Date.now();

  /**
   * One connection of `user`: the client library's failover (ChatClient `servers`, as `chat --host
   * a,b,c`) dials the nodes in the given order, the first that answers wins; then register or log in.
   * Returns the node it got.
   */
  const openClient = async (user: SoakUser, register: boolean, nodes: number[]): Promise<number> => {
    if (!fleet) throw new Error('no server');
    const slots = fleet.slots;
    const servers = nodes.map((i) => ({ host: '127.0.0.1', port: slots[i].port }));
    const client = await ChatClient.connect({
      host: servers[0].host,
      port: servers[0].port,
      servers,
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
    const index = nodes.find((i) => slots[i].port === client.server?.port) ?? nodes[0];
    const span: SessionSpan = truth.begin(user.name, slots[index].name);
    client.on('close', () => {
      truth.closed(span);
      if (user.client === client) {
        user.client = null;
        user.droppedAt = Date.now();
      }
      if (!stopping) void reconnect(user);
    });
    try {
      if (register) await client.register(PASSWORD);
      else await client.login(PASSWORD);
    } catch (err) {
      client.close();
      throw err;
    }
    truth.loggedIn(span);
    user.client = client;
    return index;
  };

  /**
   * Each attempt offers the user's node list rotated to start `offset` after the node it was on:
   * after a drop, the next node first ("reconnects to another"), then the rest, the dropped one last.
   */
  const dialUser = async (user: SoakUser, register: boolean, offset: number): Promise<void> => {
    const n = user.order.length;
    const rotated = Array.from({ length: n }, (_, j) => user.order[(user.at + offset + j) % n]);
    const index = await openClient(user, register, rotated);
    user.at = user.order.indexOf(index);
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
          await dialUser(user, false, 1);
          reconnects++;
          if (user.droppedAt !== null) reconnectMs.push(Date.now() - user.droppedAt);
          user.droppedAt = null;
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

  const usersOn = (index: number): number => [...users.values()].filter((u) => u.client && !u.client.closed && u.order[u.at] === index).length;

  /** Event k of the run: the single server's SIGKILL, a node's SIGKILL, or a bus restart. */
  const disrupt = async (k: number, sendStart: number): Promise<void> => {
    const f = fleet as Fleet;
    const t = (): string => ((Date.now() - sendStart) / 1000).toFixed(1);
    if (!clustered) {
      progress(`soak: SIGKILL server pid ${f.slots[0].handle?.pid} at t=${t()}s`);
      await f.killNode(0);
      serverKills++;
      await sleep(300);
      await f.startNode(0);
      progress(`soak: server restarted as pid ${f.slots[0].handle?.pid} on port ${f.slots[0].port}`);
      return;
    }
    if (opts.restartBus) {
      const bus = f.bus as NonNullable<Fleet['bus']>;
      const t0 = Date.now();
      progress(`soak: SIGKILL the bus (${bus.describe()}) at t=${t()}s`);
      await bus.kill();
      serverKills++;
      await sleep(downSeconds * 1000);
      await bus.start();
      const back = Date.now();
      progress(`soak: bus started again at t=${t()}s`);
      // Presence is judged on every node until the window closes.
      const t1 = t0 + Math.max(BUS_PRESENCE_WINDOW_SECONDS * 1000, back - t0 + 2000);
      await sleep(Math.max(0, t1 - Date.now()));
      events.push({
        kind: 'bus_restart', target: bus.kind, atSeconds: (t0 - sendStart) / 1000, downSeconds: (back - t0) / 1000, usersOnTarget: 0,
        presence: presenceAfter(truth.probes, f.slots.map((s) => s.name), t0, t1),
      });
      return;
    }
    // Node kills go round the nodes from the last one (node A keeps the first migration's role).
    const victim = (f.slots.length - 1 - ((k - 1) % f.slots.length) + f.slots.length) % f.slots.length;
    const slot = f.slots[victim];
    const onIt = usersOn(victim);
    const t0 = Date.now();
    progress(`soak: SIGKILL node ${slot.name} (pid ${slot.handle?.pid}, ${onIt} users) at t=${t()}s`);
    await f.killNode(victim);
    serverKills++;
    await sleep(Math.max(0, t0 + downSeconds * 1000 - Date.now()));
    // Presence is judged up to the restart: a restarted node clears what its predecessor left.
    const t1 = Date.now();
    await f.startNode(victim);
    progress(`soak: node ${slot.name} restarted as pid ${slot.handle?.pid} on port ${slot.port} at t=${t()}s`);
    events.push({
      kind: 'node_kill', target: slot.name, atSeconds: (t0 - sendStart) / 1000, downSeconds: (Date.now() - t0) / 1000, usersOnTarget: onIt,
      presence: presenceAfter(truth.probes, f.slots.filter((_, i) => i !== victim).map((s) => s.name), t0, t1),
    });
  };

  let report: SoakReport | undefined;
  try {
    fleet = await Fleet.start({ env, nodes: opts.nodes, ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}), ownBus: opts.restartBus, progress });
    const all = [...users.values()];
    all.forEach((u, i) => {
      u.order = (fleet as Fleet).orderFor(i);
    });
    await mapLimit(all, SETUP_CONCURRENCY, (u) => dialUser(u, true, 0));
    for (const [group, members] of groupPlan) {
      const owner = users.get(members[0])?.client;
      if (!owner) throw new Error(`owner of ${group} is not connected`);
      await owner.groupCreate(group);
      await mapLimit(members.slice(1), 4, (m) => owner.groupAdd(group, m));
    }
    if (clustered) {
      probes = new PresenceProbes(env, fleet, truth);
      await probes.start();
    }
    progress(`soak: setup done in ${((Date.now() - started) / 1000).toFixed(1)} s; sending`);

    const sendStart = Date.now();
    const sendUntil = sendStart + opts.seconds * 1000;
    const senders = all.map((u) => senderLoop(u, sendUntil));
    const ticker = setInterval(() => {
      const s = ledger.summary();
      const online = all.filter((u) => u.client && !u.client.closed).length;
      const perNode = clustered ? ` [${(fleet as Fleet).slots.map((sl, i) => `${sl.name}:${usersOn(i)}`).join(' ')}]` : '';
      const rss = Math.max(...(fleet as Fleet).slots.map((sl) => sl.handle?.memory.lastRss ?? 0));
      progress(`soak: t=${Math.round((Date.now() - sendStart) / 1000)}s sent=${s.sent} acked=${s.acknowledged} delivered=${s.delivered}/${s.expectedDeliveries} online=${online}/${all.length}${perNode} rss=${(rss / 1048576).toFixed(0)}MB`);
    }, 5000);
    ticker.unref();

    for (let k = 1; k <= opts.kills; k++) {
      const at = sendStart + (opts.seconds * 1000 * k) / (opts.kills + 1);
      await sleep(Math.max(0, at - Date.now()));
      await disrupt(k, sendStart);
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

    let endCorrectSeconds: number | null = null;
    if (probes) {
      const since = Date.now();
      endCorrectSeconds = await probes.allCorrectSince(since, END_PRESENCE_TIMEOUT_MS, probeCorrect).then(
        (at) => (at - since) / 1000,
        () => null,
      );
    }

    const summary = ledger.summary();
    const failures: string[] = [];
    if (summary.lost > 0) failures.push(`${summary.lost} acknowledged deliveries lost`);
    if (summary.duplicates > 0) failures.push(`${summary.duplicates} duplicates`);
    if (summary.misdelivered > 0) failures.push(`${summary.misdelivered} misdelivered`);
    if (summary.outOfOrder > 0) failures.push(`${summary.outOfOrder} out of order`);
    if (summary.acknowledged === 0) failures.push('nothing was acknowledged');
    if (serverKills < opts.kills) failures.push(`only ${serverKills} of ${opts.kills} ${clustered && opts.restartBus ? 'bus restarts' : 'server kills'} happened`);
    for (const [i, s] of fleet.slots.entries()) if (!fleet.alive(i)) failures.push(clustered ? `node ${s.name} is not running at the end` : 'the restarted server died');
    const { progress: _p, mysqlUrl: _m, ...shownOptions } = opts;
    const peak = fleet.peakRss();
    let cluster: ClusterReport | undefined;
    if (clustered) {
      const offline = all.filter((u) => !u.client || u.client.closed).length;
      if (offline > 0) failures.push(`${offline} clients are not logged in again at the end`);
      const p99 = percentile(reconnectMs, 0.99);
      if (p99 !== null && p99 > RECONNECT_P99_LIMIT_MS) failures.push(`reconnect p99 ${(p99 / 1000).toFixed(2)} s > ${RECONNECT_P99_LIMIT_MS / 1000} s`);
      for (const e of events) {
        const c = e.presence.convergedSeconds;
        if (c === null) failures.push(`presence after the ${e.kind.replace('_', ' ')} of ${e.target} did not converge within the ${e.presence.windowSeconds.toFixed(1)} s observed`);
        else if (c > PRESENCE_LIMIT_SECONDS) failures.push(`presence after the ${e.kind.replace('_', ' ')} of ${e.target} converged after ${c.toFixed(1)} s > ${PRESENCE_LIMIT_SECONDS} s`);
        if (e.kind === 'node_kill' && e.usersOnTarget === 0) failures.push(`node ${e.target} had no users when it was killed`);
      }
      if (endCorrectSeconds === null) failures.push(`presence not correct on every node within ${END_PRESENCE_TIMEOUT_MS / 1000} s after the drain`);
      cluster = {
        nodes: fleet.slots.map((s) => s.name),
        bus: fleet.bus?.describe() ?? '',
        mode: opts.restartBus ? 'restart-bus' : 'kill-node',
        events,
        reconnect: { count: reconnectMs.length, p50Ms: percentile(reconnectMs, 0.5), p99Ms: p99, maxMs: percentile(reconnectMs, 1) },
        presence: {
          probes: truth.probes.length,
          incorrectProbes: truth.probes.filter((p) => !probeCorrect(p)).length,
          endCorrectSeconds,
          lastIncorrect: truth.probes
            .filter((p) => !probeCorrect(p))
            .slice(-5)
            .map((p) => {
              const few = (us: string[]): string => `${us.slice(0, 5).join(' ')}${us.length > 5 ? ` (+${us.length - 5})` : ''}`;
              const what = p.error ?? [p.stale.length ? `stale ${few(p.stale)}` : '', p.missing.length ? `missing ${few(p.missing)}` : ''].filter(Boolean).join('; ');
              return `${p.node} at t=${((p.tq - sendStart) / 1000).toFixed(1)} s: ${what}`;
            }),
        },
        usersPerNode: Object.fromEntries(fleet.slots.map((s, i) => [s.name, usersOn(i)])),
        nodePeakRssMb: Object.fromEntries(Object.entries(peak).map(([n, b]) => [n, Math.round(b / 1048576)])),
      };
    }
    report = {
      ok: failures.length === 0,
      failures,
      options: shownOptions,
      groups: groupPlan.size,
      serverKills,
      reconnects,
      elapsedSeconds: (Date.now() - started) / 1000,
      drainSeconds,
      serverPeakRssMb: Math.round(Math.max(...Object.values(peak)) / 1048576),
      ...summary,
      anomalies: ledger.anomalies.slice(0, 50),
      lostDetail: ledger.lostPairs().map(({ rec, recipient }) => {
        const iso = (t: number | undefined): string => (t === undefined ? '-' : new Date(t).toISOString().slice(11, 23));
        const sessions = truth.sessionsOf(recipient).map((sp) => `${sp.node} ${iso(sp.loginSent)}..${iso(sp.closed)}`).join(', ');
        return `${rec.token} (${rec.kind}) to ${recipient}: sent ${iso(rec.sentAt)}, acknowledged ${iso(rec.ackedAt)}; ${recipient}'s sessions: ${sessions}`;
      }),
      ...(cluster ? { cluster } : {}),
    };
    return report;
  } finally {
    stopping = true;
    await probes?.stop();
    for (const u of users.values()) u.client?.close();
    const keepLogs = !report || !report.ok || process.env.SECURECHAT_SOAK_KEEP_LOG === '1';
    if (fleet) {
      await Promise.all(fleet.slots.map((s) => s.handle?.stop().catch(() => undefined)));
      // Keep the server logs for the investigation; everything else is thrown away.
      if (keepLogs) {
        const kept = fleet.keepLogs();
        if (kept && report) report.serverLog = kept;
        else if (kept) progress(`soak: server log kept at ${kept}`);
      }
      await fleet.dispose();
    }
    await env.dispose();
  }
}
