/**
 * `cluster_dm`: DM latency from a user on node 1 to a user on node 2 (two cluster nodes in this
 * process, one fresh MariaDB database, a fresh Redis or NATS namespace), beside the same DM on one
 * node, measured in the same run. Usage:
 *   tsx scripts/bench/cluster-dm.ts [--cluster redis://127.0.0.1:6379] [--samples 500] [--json]
 * Skips (exit 0, a line saying why) when MySQL or the bus is unreachable.
 */
import 'reflect-metadata';
import { openClusterBackend } from '../../src/server/cluster/index.js';
import { makeTestPki, startChatServer, type TestChatServer } from '../../test/helpers/chat-server.js';
import { disposeNamespace, testNamespace } from '../../test/helpers/cluster.js';
import { createTestDatabase, mysqlUnreachableReason } from '../../test/helpers/mysql.js';
import type { SecureChatClient } from '../../src/client/client.js';
import { fileURLToPath } from 'node:url';
import { nowUs, summarize } from './stats.js';

const TEXT = 'x'.repeat(200);
/** The per-session and per-user request budgets are not what is measured here. */
const BENCH_LIMITS = { rate: { requestsPerSecond: 1_000_000, burst: 1_000_000, maxInflightBytes: 64 * 1024 * 1024 }, userRate: { requestsPerSecond: 0, burst: 0 } };
const WARMUP = 50;
/** A push that has not come by then is counted as late and the run goes on: the bench always ends. */
const PUSH_TIMEOUT_MS = 2000;

type Summary = ReturnType<typeof summarize>;

export interface ClusterDmResult {
  bus: string;
  samples: number;
  /** Pushes later than PUSH_TIMEOUT_MS (not in the percentiles; there should be none). */
  late_pushes: number;
  same_node_us: Summary;
  cross_node_us: Summary;
  /** Process CPU (both nodes and the clients share this process) per DM, same node and across nodes. */
  process_cpu_us_per_same_dm: number;
  process_cpu_us_per_cross_dm: number;
  /** The difference: what the doorbell path (publish, receive, one read) adds per cross-node DM in this process (the bus server's own CPU is not counted). */
  extra_cpu_us_per_cross_dm: number;
}

/** One DM at a time, at most `samplesWanted` and at most `seconds`; a push later than PUSH_TIMEOUT_MS counts as late. */
async function latency(from: SecureChatClient, to: SecureChatClient, toUser: string, samplesWanted: number, seconds: number): Promise<{ summary: Summary; cpuUsPerDm: number; late: number }> {
  for (let i = 0; i < WARMUP; i++) await from.request('dm', { to: toUser, text: TEXT });
  await new Promise((r) => setTimeout(r, 200));
  const samples: number[] = [];
  let late = 0;
  const deadline = nowUs() + seconds * 1e6;
  const cpu0 = process.cpuUsage();
  while (samples.length + late < samplesWanted && nowUs() < deadline) {
    let off = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    const pushed = new Promise<number | null>((resolve) => {
      off = to.onPush('message', () => resolve(nowUs()));
      timer = setTimeout(() => resolve(null), PUSH_TIMEOUT_MS);
    });
    const t0 = nowUs();
    const [at] = await Promise.all([pushed, from.request('dm', { to: toUser, text: TEXT })]);
    off();
    clearTimeout(timer);
    if (at === null) late++;
    else samples.push(at - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  return { summary: summarize(samples), cpuUsPerDm: (cpu.user + cpu.system) / Math.max(1, samples.length + late), late };
}

/** Two cluster nodes in this process on a fresh MariaDB database; null (and why) when MySQL is unreachable. */
export async function benchClusterDm(options: { bus: string; samples: number; seconds?: number }): Promise<ClusterDmResult | { skipped: string }> {
  const down = await mysqlUnreachableReason();
  if (down) return { skipped: down };
  const namespace = testNamespace();
  const db = await createTestDatabase();
  const pki = await makeTestPki(['alice', 'bob']);
  const nodes: TestChatServer[] = [];
  try {
    const open = () => openClusterBackend(options.bus, { namespace });
    const n1 = await startChatServer({ pki, dbUrl: db.url, cluster: { backend: await open(), nodeId: 'bench-1' }, limits: BENCH_LIMITS });
    nodes.push(n1);
    const n2 = await startChatServer({ pki, dbUrl: db.url, cluster: { backend: await open(), nodeId: 'bench-2' }, limits: BENCH_LIMITS });
    nodes.push(n2);
    const aliceOn1 = await n1.login('alice');
    const bobOn1 = await n1.login('bob');
    const seconds = options.seconds ?? 10;
    const same = await latency(aliceOn1, bobOn1, 'bob', options.samples, seconds);
    bobOn1.close();
    const bobOn2 = await n2.login('bob');
    const cross = await latency(aliceOn1, bobOn2, 'bob', options.samples, seconds);
    aliceOn1.close();
    bobOn2.close();
    return {
      bus: options.bus.replace(/\/\/[^@]*@/, '//'),
      samples: cross.summary.n,
      late_pushes: same.late + cross.late,
      same_node_us: same.summary,
      cross_node_us: cross.summary,
      process_cpu_us_per_same_dm: same.cpuUsPerDm,
      process_cpu_us_per_cross_dm: cross.cpuUsPerDm,
      extra_cpu_us_per_cross_dm: cross.cpuUsPerDm - same.cpuUsPerDm,
    };
  } finally {
    for (const n of nodes.reverse()) await n.stop();
    await db.dispose();
    await disposeNamespace(options.bus, namespace).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, fallback: string): string => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
  };
  const bus = arg('--cluster', 'redis://127.0.0.1:6379');
  const samples = Number(arg('--samples', '500'));
  const result = await benchClusterDm({ bus, samples });
  if ('skipped' in result) return console.log(`cluster_dm: skipped (${result.skipped})`);
  if (args.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else {
    const f = (s: Summary) => `p50 ${(s.p50 / 1000).toFixed(2)} ms, p99 ${(s.p99 / 1000).toFixed(2)} ms`;
    console.log(
      `cluster_dm (${result.bus}, ${samples} samples): same node ${f(result.same_node_us)}; node 1 → node 2 ${f(result.cross_node_us)}; ` +
        `process CPU ${result.process_cpu_us_per_cross_dm.toFixed(0)} µs per cross-node DM (clients included), ${result.extra_cpu_us_per_cross_dm.toFixed(0)} µs more than on one node`,
    );
  }
}

// Run as a script (npm run bench:cluster), not when index.ts imports it.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
