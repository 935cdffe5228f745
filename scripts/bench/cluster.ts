/**
 * The cluster rows of `npm run bench` (issue 14), on real server processes: server-proc.ts `chat`
 * nodes joined as `serve --db mysql://… --cluster URL --node-id NAME` does, on one fresh MariaDB
 * database (mysql-db.ts) and a fresh namespace of the bus (Redis by default, NATS with
 * --cluster nats://…). The clients are in the bench process, so each node's CPU is server work only.
 *   cluster_dm      DM latency A on node 1 → B on node 2, one at a time, and the server CPU per DM
 *                   summed over the nodes, beside the same DM on a lone node on the same database
 *                   (no bus: what "single node" costs there) and with both users on node 1
 *   cluster_fanout  group fan-out 1 → N with the members spread over 3 nodes: deliveries/s and the
 *                   server CPU per delivery summed over the 3 nodes
 * The receivers acknowledge as the chat client does (chat-phases.ts autoAck), in every part alike.
 * Standalone (prints the rows):
 *   tsx scripts/bench/cluster.ts [--cluster redis://127.0.0.1:6379] [--mysql mysql://root@127.0.0.1:3306] [--samples 1000] [--json]
 *                                [--no-fanout] [--profile DIR]   (DIR/<node id>/*.cpuprofile, one per node)
 * Never throws for a missing service: the result says why it could not run (the rows say n/a).
 */
import 'reflect-metadata';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SecureChatClient } from '../../src/client/client.js';
import { openClusterBackend, redactClusterUrl } from '../../src/server/cluster/index.js';
import { disposeNamespace, testNamespace } from '../../test/helpers/cluster.js';
import { autoAck, BENCH_PASSWORD, dmLatency, fanout, loginChat, setupFanout, type ChatTarget, type FanoutSetup } from './chat-phases.js';
import { freshBenchDatabase, type BenchDatabase } from './mysql-db.js';
import { benchUser, makeBenchPki, type BenchPki } from './pki.js';
import { fmt, renderTable, type Row } from './report.js';
import { ServerHandle } from './server-handle.js';
import { sleep, summarize } from './stats.js';

type Summary = ReturnType<typeof summarize>;

export interface ClusterBenchOptions {
  pki: BenchPki;
  bus: string;
  /** The MySQL/MariaDB server (no database: a fresh one is made and dropped). */
  mysqlUrl: string;
  /** DM samples per part (lone node, same node, across nodes), each also bounded by `seconds`. */
  samples: number;
  seconds: number;
  fanoutMembers: number;
  fanoutWindow: number;
  fanoutSeconds: number;
  /** Which parts to run. */
  dm: boolean;
  fanout: boolean;
  aead?: string;
  /** Runs every node under `node --cpu-prof`, each writing into DIR/<node id> (the lone node: DIR/lone). */
  profileDir?: string;
  progress?: (line: string) => void;
}

export interface DmPart {
  latency: Summary;
  late: number;
  /** Server CPU per DM of the measured rounds, summed over the nodes that ran. */
  cpuUsPerDm: number;
  /** The same per node (node 1, node 2; the lone node alone). */
  perNodeCpuUs: number[];
}

export interface FanoutPart {
  nodes: number;
  /** Members on each node (the sender is on the first). */
  spread: number[];
  sent: number;
  delivered: number;
  expected: number;
  deliveriesPerSecond: number;
  cpuUsPerDelivery: number;
  perNodeCpuUs: number[];
}

export interface ClusterBenchResult {
  bus: string;
  database: string;
  dm: { lone: DmPart; sameNode: DmPart; crossNode: DmPart } | null;
  fanout: FanoutPart | null;
}

/** dmLatency's unsampled DMs in the first round (they create the conversation). */
const DM_WARMUP = 50;
const DM_ROUNDS = 4;
/** Samples per part in the unmeasured first round (JIT and caches of every path on every node). */
const DM_WARMUP_SAMPLES = 150;
const FANOUT_NODES = 3;

/** The bus answers (or why not), checked before any node starts so the reason is the bus's own. */
async function busUnreachable(bus: string, namespace: string): Promise<string | null> {
  try {
    const probe = await openClusterBackend(bus, { namespace });
    await probe.close();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Runs the cluster parts; `{skipped}` (why) when MariaDB or the bus is unreachable. */
export async function benchCluster(o: ClusterBenchOptions): Promise<ClusterBenchResult | { skipped: string }> {
  const progress = o.progress ?? (() => undefined);
  const namespace = `scbench_${testNamespace().slice('sctest_'.length)}`;
  const busDown = await busUnreachable(o.bus, namespace);
  if (busDown) return { skipped: busDown };
  let db: BenchDatabase;
  try {
    db = await freshBenchDatabase(o.mysqlUrl);
  } catch (err) {
    return { skipped: (err as Error).message };
  }
  const users = Array.from({ length: o.fanoutMembers + 1 }, (_, i) => benchUser(i));
  const servers: ServerHandle[] = [];
  const clients: SecureChatClient[] = [];
  const spawn = async (nodeId: string | null): Promise<{ server: ServerHandle; target: ChatTarget }> => {
    const server = ServerHandle.spawn('chat', {
      ...(o.aead ? { aead: o.aead } : {}),
      ...(o.profileDir ? { profileDir: join(o.profileDir, nodeId ?? 'lone') } : {}),
    });
    servers.push(server);
    const { port } = await server.call<{ port: number }>('start', {
      certsDir: o.pki.dir, users, password: BENCH_PASSWORD, dbUrl: db.url,
      ...(nodeId ? { cluster: { url: o.bus, namespace, nodeId } } : {}),
    });
    return { server, target: { port, pki: o.pki } };
  };
  const login = async (t: ChatTarget, user: string, receiver = false): Promise<SecureChatClient> => {
    const c = await loginChat(t, user, { caughtUp: receiver });
    clients.push(c);
    if (receiver) autoAck(c);
    return c;
  };
  const closeClients = async (): Promise<void> => {
    for (const c of clients.splice(0)) c.close();
    await sleep(200);
  };
  try {
    let dm: ClusterBenchResult['dm'] = null;
    const nodes: { server: ServerHandle; target: ChatTarget }[] = [];
    // One after another: the first applies the schema migrations, the others find them done.
    // The DM runs on a cluster of two, as the issue describes it: node 3 joins for the fan-out.
    for (let i = 1; i <= 2; i++) nodes.push(await spawn(`bench-${i}`));
    if (o.dm) {
      // The lone node (no bus) shares the database; what it stores rings no doorbell, and no
      // cluster node has a session of its users.
      const single = await spawn(null);
      const pairs = await Promise.all(
        ([['lone', single.target, single.target], ['sameNode', nodes[0].target, nodes[0].target], ['crossNode', nodes[0].target, nodes[1].target]] as const).map(
          async ([part, from, to], k) => ({ part, sender: await login(from, benchUser(2 * k)), receiver: await login(to, benchUser(2 * k + 1), true), to: benchUser(2 * k + 1) }),
        ),
      );
      const serversOf = (part: string): ServerHandle[] => (part === 'lone' ? [single.server] : [nodes[0].server, nodes[1].server]);
      const acc = new Map(pairs.map((p) => [p.part, { samples: [] as number[], late: 0, dms: 0, cpuUs: 0, perNode: [0, 0] }]));
      progress(`cluster DM: ${o.samples} samples each on a lone node on the same MariaDB database (no bus), with both users on node 1 and node 1 → node 2 (${redactClusterUrl(o.bus)}), in ${DM_ROUNDS} interleaved rounds after a warm-up round`);
      // Interleaved rounds: a load that changes during the run (other work, JIT, the database's
      // own caches) falls on every part alike; the first round only warms up every path.
      for (let round = 0; round <= DM_ROUNDS; round++) {
        for (const p of pairs) {
          const samples = round === 0 ? DM_WARMUP_SAMPLES : Math.ceil(o.samples / DM_ROUNDS);
          // The first round's 50 unsampled DMs create the conversation; later rounds need none.
          const warmup = round === 0 ? DM_WARMUP : 0;
          const m = await ServerHandle.measureAll(serversOf(p.part), () => dmLatency(p.sender, p.receiver, p.to, o.seconds / DM_ROUNDS, samples, warmup));
          if (round === 0) continue;
          const a = acc.get(p.part)!;
          a.samples.push(...m.result.samples);
          a.late += m.result.late;
          a.dms += m.result.sent;
          a.cpuUs += m.cpuUs;
          m.perServerUs.forEach((v, i) => (a.perNode[i] += v));
        }
      }
      const part = (name: (typeof pairs)[number]['part']): DmPart => {
        const a = acc.get(name)!;
        return { latency: summarize(a.samples), late: a.late, cpuUsPerDm: a.cpuUs / Math.max(1, a.dms), perNodeCpuUs: a.perNode.map((v) => v / Math.max(1, a.dms)) };
      };
      dm = { lone: part('lone'), sameNode: part('sameNode'), crossNode: part('crossNode') };
      await closeClients();
      await single.server.stop();
      servers.splice(servers.indexOf(single.server), 1);
    }
    if (o.fanout) nodes.push(await spawn(`bench-${FANOUT_NODES}`));
    let fan: FanoutPart | null = null;
    if (o.fanout) {
      progress(`cluster fan-out: 1 → ${o.fanoutMembers} over ${FANOUT_NODES} nodes, ${o.fanoutWindow} sends in flight, ${o.fanoutSeconds} s (logging in ${o.fanoutMembers + 1} users, not measured)`);
      const setup: FanoutSetup = await setupFanout(nodes.map((n) => n.target), o.fanoutMembers);
      clients.push(setup.sender, ...setup.members);
      for (const m of setup.members) autoAck(m);
      await fanout(setup, o.fanoutWindow, Math.min(1, o.fanoutSeconds / 3)); // warm-up (JIT on every node)
      await sleep(300);
      const m = await ServerHandle.measureAll(nodes.map((n) => n.server), () => fanout(setup, o.fanoutWindow, o.fanoutSeconds));
      const r = m.result;
      const spread = nodes.map((_, k) => users.slice(1).filter((_u, i) => (i + 1) % nodes.length === k).length);
      fan = {
        nodes: nodes.length, spread, sent: r.sent, delivered: r.delivered, expected: r.expected,
        deliveriesPerSecond: r.delivered / r.seconds, cpuUsPerDelivery: m.cpuUs / Math.max(1, r.delivered), perNodeCpuUs: m.perServerUs,
      };
      await closeClients();
    }
    return { bus: redactClusterUrl(o.bus), database: `${db.version} at ${db.server}`, dm, fanout: fan };
  } finally {
    await closeClients();
    for (const s of servers.reverse()) await s.stop();
    await db.drop().catch(() => undefined);
    await disposeNamespace(o.bus, namespace).catch(() => undefined);
  }
}

/** What the cluster rows are set beside: figures of this run's single-node rows (NaN when not run). */
export interface SingleNodeFigures {
  latencyCpuUsPerDm: number;
  fanoutDeliveriesPerSecond: number;
  fanoutCpuUsPerDelivery: number;
}

export const CLUSTER_DM_EXTRA_CPU_US = 25;
export const CLUSTER_DM_P99_US = 5000;
const DM_FIGURE = 'cluster DM latency node 1 → node 2, 200 B (p50 / p99)';
const DM_TARGET = `p99 ≤ ${CLUSTER_DM_P99_US / 1000} ms; ≤ lone node + ${CLUSTER_DM_EXTRA_CPU_US} µs CPU/DM`;
const fanoutFigure = (members: number): string => `group fan-out 1 → ${members} over ${FANOUT_NODES} nodes, 200 B: deliveries/s`;
const FANOUT_TARGET = 'report only';
const signed = (n: number, digits = 0): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${fmt(n, digits)}` : 'n/a');

/** Both rows as n/a, the reason in the notes. */
export function clusterSkippedRows(reason: string, members: number, wanted: { dm: boolean; fanout: boolean }): { rows: Row[]; notes: string[] } {
  const rows: Row[] = [];
  const notes: string[] = [];
  if (wanted.dm) {
    rows.push({ id: 'cluster_dm', figure: DM_FIGURE, ours: 'n/a (see notes)', baseline: '—', serverCpu: '—', target: DM_TARGET, met: null, values: { skipped: reason } });
    notes.push(`cluster_dm n/a: ${reason}`);
  }
  if (wanted.fanout) {
    rows.push({ id: 'cluster_fanout', figure: fanoutFigure(members), ours: 'n/a (see notes)', baseline: '—', serverCpu: '—', target: FANOUT_TARGET, met: null, values: { skipped: reason } });
    notes.push(`cluster_fanout n/a: ${reason}`);
  }
  return { rows, notes };
}

export function clusterRows(r: ClusterBenchResult, single: SingleNodeFigures, members: number): { rows: Row[]; notes: string[] } {
  const rows: Row[] = [];
  const notes: string[] = [];
  if (r.dm) {
    const { lone, sameNode, crossNode: cross } = r.dm;
    const extra = cross.cpuUsPerDm - lone.cpuUsPerDm;
    const late = lone.late + sameNode.late + cross.late;
    rows.push({
      id: 'cluster_dm',
      figure: DM_FIGURE,
      ours: `${fmt(cross.latency.p50)} / ${fmt(cross.latency.p99)} µs`,
      baseline: `lone node, same DB: ${fmt(lone.latency.p50)} / ${fmt(lone.latency.p99)} µs, ${fmt(lone.cpuUsPerDm)} µs/DM; both on node 1: ${fmt(sameNode.latency.p50)} / ${fmt(sameNode.latency.p99)} µs`,
      serverCpu: `${fmt(cross.cpuUsPerDm)} µs/DM, both nodes (${signed(extra)} vs lone node)`,
      target: DM_TARGET,
      met: cross.latency.n > 0 ? cross.latency.p99 <= CLUSTER_DM_P99_US && extra <= CLUSTER_DM_EXTRA_CPU_US : false,
      values: {
        bus: r.bus, samples: cross.latency.n, latePushes: late,
        p50Us: cross.latency.p50, p99Us: cross.latency.p99, cpuUsPerDm: cross.cpuUsPerDm, extraCpuUs: extra,
        node1CpuUs: cross.perNodeCpuUs[0] ?? NaN, node2CpuUs: cross.perNodeCpuUs[1] ?? NaN,
        loneP50Us: lone.latency.p50, loneP99Us: lone.latency.p99, loneCpuUsPerDm: lone.cpuUsPerDm,
        sameNodeP50Us: sameNode.latency.p50, sameNodeP99Us: sameNode.latency.p99, sameNodeCpuUsPerDm: sameNode.cpuUsPerDm,
        sameNodeNode1CpuUs: sameNode.perNodeCpuUs[0] ?? NaN, sameNodeNode2CpuUs: sameNode.perNodeCpuUs[1] ?? NaN,
        extraCpuUsVsSameNode: cross.cpuUsPerDm - sameNode.cpuUsPerDm,
        sqliteSingleNodeCpuUsPerDm: single.latencyCpuUsPerDm,
        p99Met: String(cross.latency.p99 <= CLUSTER_DM_P99_US), cpuMet: String(extra <= CLUSTER_DM_EXTRA_CPU_US),
      },
    });
    if (late > 0) notes.push(`cluster_dm: ${late} pushes came later than 2 s (lone ${lone.late}, same node ${sameNode.late}, across ${cross.late}; left out of the percentiles)`);
    notes.push(
      `cluster_dm: ${r.bus}, database ${r.database}, nodes as separate processes (server CPU only, summed over the nodes; mysqld's and the bus server's not counted). ` +
        `"lone node" = one node on the same database without a bus, the baseline of the extra CPU; "both on node 1" = the cluster's own same-node DM (${signed(cross.cpuUsPerDm - sameNode.cpuUsPerDm)} µs/DM across nodes vs that). ` +
        `Every latency includes the MariaDB commit (the \`latency\` row is on SQLite: ${fmt(single.latencyCpuUsPerDm)} µs/DM).`,
    );
  }
  if (r.fanout) {
    const f = r.fanout;
    const rate = f.deliveriesPerSecond / single.fanoutDeliveriesPerSecond;
    const cpu = f.cpuUsPerDelivery / single.fanoutCpuUsPerDelivery;
    rows.push({
      id: 'cluster_fanout',
      figure: fanoutFigure(members),
      ours: `${fmt(f.deliveriesPerSecond)}/s (${fmt(f.sent)} msgs${Number.isFinite(rate) ? `; ${fmt(rate, 2)}× one node` : ''})`,
      baseline: Number.isFinite(single.fanoutDeliveriesPerSecond)
        ? `one node (fanout row): ${fmt(single.fanoutDeliveriesPerSecond)}/s, ${fmt(single.fanoutCpuUsPerDelivery, 2)} µs CPU/delivery`
        : 'fanout row not run',
      serverCpu: `${fmt(f.cpuUsPerDelivery, 2)} µs/delivery, all nodes${Number.isFinite(cpu) ? ` (${fmt(cpu, 2)}× one node)` : ''}`,
      target: FANOUT_TARGET,
      met: null,
      values: {
        bus: r.bus, nodes: f.nodes, spread: f.spread.join('/'), messages: f.sent, deliveries: f.delivered, expected: f.expected,
        deliveriesPerSecond: f.deliveriesPerSecond, cpuUsPerDelivery: f.cpuUsPerDelivery,
        perNodeCpuUs: f.perNodeCpuUs.map((v) => Math.round(v)).join('/'),
        singleNodeDeliveriesPerSecond: single.fanoutDeliveriesPerSecond, singleNodeCpuUsPerDelivery: single.fanoutCpuUsPerDelivery,
        rateRatio: rate, cpuRatio: cpu,
      },
    });
    if (f.delivered !== f.expected) notes.push(`cluster_fanout: ${f.delivered} of ${f.expected} deliveries arrived`);
    notes.push(
      `cluster_fanout: sender and ${f.spread[0]} members on node 1, ${f.spread.slice(1).join(' and ')} on nodes 2 and 3; every delivery beyond node 1 takes a doorbell and one row read per node; ` +
        'the members acknowledge as the chat client does (every 20 ms: a cursor write and a bus message per member, which dominate the figure), the single-node `fanout` row (SQLite) does not; ' +
        'report only: no target in the issue, the figure depends on the spread and the ack cadence',
    );
  }
  return { rows, notes };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, fallback: string): string => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
  };
  const members = 100;
  const pki = await makeBenchPki(members + 1);
  try {
    const result = await benchCluster({
      pki, bus: arg('--cluster', 'redis://127.0.0.1:6379'), mysqlUrl: arg('--mysql', 'mysql://root@127.0.0.1:3306'),
      samples: Number(arg('--samples', '1000')), seconds: 5, fanoutMembers: members, fanoutWindow: 32, fanoutSeconds: 5,
      dm: true, fanout: !args.includes('--no-fanout'), ...(args.includes('--profile') ? { profileDir: resolve(arg('--profile', 'cluster-profile')) } : {}), progress: (line) => process.stderr.write(`· ${line}\n`),
    });
    const nan = NaN;
    const out = 'skipped' in result
      ? clusterSkippedRows(result.skipped, members, { dm: true, fanout: true })
      : clusterRows(result, { latencyCpuUsPerDm: nan, fanoutDeliveriesPerSecond: nan, fanoutCpuUsPerDelivery: nan }, members);
    if (args.includes('--json')) console.log(JSON.stringify(out, null, 2));
    else {
      console.log(renderTable(out.rows));
      for (const n of out.notes) console.log(`note: ${n}`);
    }
  } finally {
    rmSync(pki.dir, { recursive: true, force: true });
  }
}

// Run as a script (npm run bench:cluster), not when index.ts imports it.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
  process.exit(0);
}
