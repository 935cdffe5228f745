/**
 * npm run soak [-- --clients 200 --seconds 60 --db sqlite|mysql --rate 1 --kills 1 --drain 30 --seed 1 --json]
 * npm run soak -- --nodes 3 --cluster redis://127.0.0.1:6379|nats://…|redis|nats --db mysql [--restart-bus] [--down S]
 * Exit 0 only if every acknowledged message reached every recipient exactly once, and in a cluster
 * run reconnects and presence kept their limits (docs/RELIABILITY.md).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SOAK, runSoak, type ClusterReport, type SoakReport } from './soak/harness.js';

function positive(name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

const line = (k: string, v: unknown): void => console.log(`${k.padEnd(26)} ${String(v)}`);
const secs = (ms: number | null): string => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
const conv = (s: number | null): string => (s === null ? 'NOT CONVERGED' : `${s.toFixed(1)} s`);

function printCluster(c: ClusterReport): void {
  line('bus', c.bus);
  line('reconnect time', `p50 ${secs(c.reconnect.p50Ms)}, p99 ${secs(c.reconnect.p99Ms)}, max ${secs(c.reconnect.maxMs)} (${c.reconnect.count} reconnects)`);
  for (const e of c.events) {
    const what = e.kind === 'node_kill' ? `node ${e.target} SIGKILLed (${e.usersOnTarget} users on it)` : `${e.target} SIGKILLed`;
    line('event', `${what} at t=${e.atSeconds.toFixed(1)} s, down ${e.downSeconds.toFixed(1)} s`);
    const p = e.presence;
    line('  presence converged', `${conv(p.convergedSeconds)} after (on ${p.observedOn.join(', ')}, observed ${p.windowSeconds.toFixed(1)} s)`);
    line('  dead sessions gone', conv(p.staleClearedSeconds));
    line('  everyone listed again', conv(p.listedAgainSeconds));
  }
  line('presence probes', `${c.presence.probes} (${c.presence.incorrectProbes} incorrect); all nodes exact at the end after ${conv(c.presence.endCorrectSeconds)}`);
  for (const l of c.presence.lastIncorrect) line('  incorrect', l);
  line('users per node at end', Object.entries(c.usersPerNode).map(([n, k]) => `${n}:${k}`).join(' '));
  line('node peak RSS', Object.entries(c.nodePeakRssMb).map(([n, mb]) => `${n}:${mb} MB`).join(' '));
}

function print(r: SoakReport): void {
  const where = r.cluster ? `${r.cluster.nodes.length} nodes on ${r.options.db}, ${r.serverKills} ${r.cluster.mode === 'restart-bus' ? 'bus SIGKILL+restart' : 'node SIGKILL+restart'}` : `${r.options.db}, ${r.serverKills} SIGKILL+restart`;
  console.log(`\nSoak ${r.ok ? 'PASSED' : 'FAILED'}: ${r.options.clients} clients, ${r.groups} groups, ${r.options.seconds} s on ${where}`);
  line('sent', r.sent);
  line('acknowledged', r.acknowledged);
  line('unacknowledged', `${r.unacknowledged + r.pending} ${JSON.stringify(r.unacknowledgedByCode)} (${r.unacknowledgedArrived} arrived anyway)`);
  line('expected deliveries', r.expectedDeliveries);
  line('delivered (per recipient)', r.delivered);
  line('lost', r.lost);
  line('duplicates', r.duplicates);
  line('misdelivered', r.misdelivered);
  line('out of order', r.outOfOrder);
  line('redelivered (dedup by id)', r.redelivered);
  line('reconnects', r.reconnects);
  line('server peak RSS', `${r.serverPeakRssMb} MB`);
  line('drain', `${r.drainSeconds.toFixed(1)} s`);
  line('elapsed', `${r.elapsedSeconds.toFixed(1)} s`);
  if (r.cluster) printCluster(r.cluster);
  for (const f of r.failures) console.log(`FAIL: ${f}`);
  for (const a of r.anomalies.slice(0, 20)) console.log(`  ${a.kind} at ${a.user}: ${a.detail}`);
  for (const l of r.lostDetail) console.log(`  lost: ${l}`);
  if (r.serverLog) console.log(`server log kept at ${r.serverLog}`);
}

const { values } = parseArgs({
  options: {
    clients: { type: 'string' },
    seconds: { type: 'string' },
    db: { type: 'string' },
    rate: { type: 'string' },
    kills: { type: 'string' },
    drain: { type: 'string' },
    seed: { type: 'string' },
    'mysql-url': { type: 'string' },
    nodes: { type: 'string' },
    cluster: { type: 'string' },
    'restart-bus': { type: 'boolean' },
    down: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const db = values.db ?? DEFAULT_SOAK.db;
if (db !== 'sqlite' && db !== 'mysql') {
  console.error('--db must be sqlite or mysql');
  process.exit(2);
}
try {
  const report = await runSoak({
    clients: positive('clients', values.clients, DEFAULT_SOAK.clients),
    seconds: positive('seconds', values.seconds, DEFAULT_SOAK.seconds, false),
    db,
    ratePerClient: positive('rate', values.rate, DEFAULT_SOAK.ratePerClient, false),
    kills: values.kills === '0' ? 0 : positive('kills', values.kills, DEFAULT_SOAK.kills),
    drainSeconds: positive('drain', values.drain, DEFAULT_SOAK.drainSeconds, false),
    seed: values.seed === undefined ? DEFAULT_SOAK.seed : positive('seed', values.seed, 1),
    ...(values['mysql-url'] ? { mysqlUrl: values['mysql-url'] } : {}),
    nodes: positive('nodes', values.nodes, DEFAULT_SOAK.nodes),
    ...(values.cluster !== undefined ? { cluster: values.cluster } : {}),
    restartBus: values['restart-bus'] ?? false,
    ...(values.down !== undefined ? { downSeconds: positive('down', values.down, 1, false) } : {}),
    progress: (l) => console.error(l),
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else print(report);
  process.exit(report.ok ? 0 : 1);
} catch (err) {
  console.error(`soak could not run: ${(err as Error).stack ?? String(err)}`);
  process.exit(2);
}
