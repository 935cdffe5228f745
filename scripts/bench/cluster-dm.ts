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
import { nowUs, summarize } from './stats.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const BUS = arg('--cluster', 'redis://127.0.0.1:6379');
const SAMPLES = Number(arg('--samples', '500'));
const TEXT = 'x'.repeat(200);
/** The per-session request budget is not what is measured here. */
const BENCH_LIMITS = { rate: { requestsPerSecond: 1_000_000, burst: 1_000_000, maxInflightBytes: 64 * 1024 * 1024 } };

async function latency(from: SecureChatClient, to: SecureChatClient, toUser: string): Promise<ReturnType<typeof summarize>> {
  for (let i = 0; i < 50; i++) await from.request('dm', { to: toUser, text: TEXT });
  await new Promise((r) => setTimeout(r, 200));
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const pushed = new Promise<number>((resolve) => {
      const off = to.onPush('message', () => {
        off();
        resolve(nowUs());
      });
    });
    const t0 = nowUs();
    await Promise.all([pushed, from.request('dm', { to: toUser, text: TEXT })]);
    samples.push((await pushed) - t0);
  }
  return summarize(samples);
}

async function main(): Promise<void> {
  const down = await mysqlUnreachableReason();
  if (down) return console.log(`cluster_dm: skipped (${down})`);
  const namespace = testNamespace();
  const db = await createTestDatabase();
  const pki = await makeTestPki(['alice', 'bob']);
  const nodes: TestChatServer[] = [];
  try {
    const open = () => openClusterBackend(BUS, { namespace });
    const n1 = await startChatServer({ pki, dbUrl: db.url, cluster: { backend: await open(), nodeId: 'bench-1' }, limits: BENCH_LIMITS });
    nodes.push(n1);
    const n2 = await startChatServer({ pki, dbUrl: db.url, cluster: { backend: await open(), nodeId: 'bench-2' }, limits: BENCH_LIMITS });
    nodes.push(n2);
    const aliceOn1 = await n1.login('alice');
    const bobOn1 = await n1.login('bob');
    const same = await latency(aliceOn1, bobOn1, 'bob');
    bobOn1.close();
    const bobOn2 = await n2.login('bob');
    const cpu0 = process.cpuUsage();
    const cross = await latency(aliceOn1, bobOn2, 'bob');
    const cpu = process.cpuUsage(cpu0);
    const result = {
      bus: BUS.replace(/\/\/[^@]*@/, '//'),
      samples: SAMPLES,
      same_node_us: same,
      cross_node_us: cross,
      // Both nodes and the clients share this process: an upper bound on the servers' CPU.
      process_cpu_us_per_cross_dm: (cpu.user + cpu.system) / (SAMPLES + 50),
    };
    if (args.includes('--json')) console.log(JSON.stringify(result, null, 2));
    else {
      const f = (s: ReturnType<typeof summarize>) => `p50 ${(s.p50 / 1000).toFixed(2)} ms, p99 ${(s.p99 / 1000).toFixed(2)} ms`;
      console.log(`cluster_dm (${result.bus}, ${SAMPLES} samples): same node ${f(same)}; node 1 → node 2 ${f(cross)}; process CPU ${result.process_cpu_us_per_cross_dm.toFixed(0)} µs per cross-node DM (clients included)`);
    }
    aliceOn1.close();
    bobOn2.close();
  } finally {
    for (const n of nodes.reverse()) await n.stop();
    await db.dispose();
    await disposeNamespace(BUS, namespace).catch(() => undefined);
  }
}

await main();
