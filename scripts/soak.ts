/**
 * npm run soak [-- --clients 200 --seconds 60 --db sqlite|mysql --rate 1 --kills 1 --drain 30 --seed 1 --json]
 * Exit 0 only if every acknowledged message reached every recipient exactly once (docs/RELIABILITY.md).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SOAK, runSoak, type SoakReport } from './soak/harness.js';

function positive(name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

function print(r: SoakReport): void {
  const line = (k: string, v: unknown): void => console.log(`${k.padEnd(26)} ${String(v)}`);
  console.log(`\nSoak ${r.ok ? 'PASSED' : 'FAILED'}: ${r.options.clients} clients, ${r.groups} groups, ${r.options.seconds} s on ${r.options.db}, ${r.serverKills} SIGKILL+restart`);
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
  for (const f of r.failures) console.log(`FAIL: ${f}`);
  for (const a of r.anomalies.slice(0, 20)) console.log(`  ${a.kind} at ${a.user}: ${a.detail}`);
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
    progress: (l) => console.error(l),
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else print(report);
  process.exit(report.ok ? 0 : 1);
} catch (err) {
  console.error(`soak could not run: ${(err as Error).stack ?? String(err)}`);
  process.exit(2);
}
