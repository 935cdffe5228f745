/**
 * npm run fuzz [-- --frames 100000 --seed N --concurrency 16 --max-rss-growth-mb 200 --json]
 * npm run fuzz -- --mode hostile [--seconds 30 --attacks history-unread,ping-unread,every-type,bad-hello,spool,quota,file-memory --max-rss-growth-mb 256 --json]
 * Frames mode (default): random and mutated frames. Hostile mode: issue 10's attacks at once
 * (scripts/fuzz/hostile.ts), with the server's peak RSS and a well-behaved client's DM round trip.
 * Exit 0 only if the server survived, stayed under the RSS bound and still served a valid client.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_FUZZ, runFuzz, type FuzzReport } from './fuzz/harness.js';
import { ATTACK_IDS, DEFAULT_HOSTILE, runHostile, type AttackId, type HostileReport } from './fuzz/hostile.js';

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) {
    console.error(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

function print(r: FuzzReport): void {
  console.log(`\nFuzz ${r.ok ? 'PASSED' : 'FAILED'} (seed ${r.options.seed}) in ${r.elapsedSeconds.toFixed(1)} s`);
  console.log(`frames sent          ${r.framesSent}`);
  console.log(`connections          ${r.connections.preHandshake} pre-handshake, ${r.connections.postHandshake} post-handshake (${r.connections.handshakeFailed} handshakes refused)`);
  console.log(`server RSS           start ${r.rssMb.start} MB, peak ${r.rssMb.peak} MB, end ${r.rssMb.end} MB (bound ${r.rssMb.bound} MB)`);
  console.log(`valid client served  ${r.validClientServed ? 'yes' : 'NO'}`);
  console.log(`unanswered requests  ${r.unansweredRequests}`);
  console.log(`server error log     ${r.serverErrorLogLines} line(s)`);
  console.log('server answers by code:');
  for (const [code, n] of Object.entries(r.serverCodes)) console.log(`  ${String(n).padStart(7)}  ${code}`);
  for (const f of r.failures) console.log(`FAIL: ${f}`);
}

function printHostile(r: HostileReport): void {
  const rt = r.dmRoundTripMs;
  console.log(`\nHostile fuzz ${r.ok ? 'PASSED' : 'FAILED'} in ${r.elapsedSeconds.toFixed(1)} s (${r.options.seconds} s of attacks)`);
  console.log(`server RSS                  before ${r.rssMb.start} MB, peak ${r.rssMb.peak} MB, end ${r.rssMb.end} MB (bound ${r.rssMb.bound} MB)`);
  console.log(`DM round trip, idle         p50 ${rt.idle.p50} ms, p99 ${rt.idle.p99} ms, max ${rt.idle.max} ms (${rt.idle.count} DMs)`);
  console.log(`DM round trip, under attack p50 ${rt.underAttack.p50} ms, p99 ${rt.underAttack.p99} ms, max ${rt.underAttack.max} ms (${rt.underAttack.count} DMs, ${rt.underAttack.failed} failed)`);
  console.log('\n| id | attack | user × sessions | sent | answers (most frequent) |');
  console.log('|---|---|---|---|---|');
  for (const a of r.attackers) {
    const answers = Object.entries(a.answers).map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(`| ${a.id} | ${a.attack} | ${a.user} × ${a.sessions} | ${a.sent} | ${a.error ? `(${a.error}) ` : ''}${answers} |`);
  }
  for (const f of r.failures) console.log(`FAIL: ${f}`);
}

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    seconds: { type: 'string' },
    attacks: { type: 'string' },
    frames: { type: 'string' },
    seed: { type: 'string' },
    concurrency: { type: 'string' },
    'max-rss-growth-mb': { type: 'string' },
    json: { type: 'boolean' },
  },
});
const mode = values.mode ?? 'frames';
if (mode !== 'frames' && mode !== 'hostile') {
  console.error(`--mode must be frames or hostile, got ${JSON.stringify(mode)}`);
  process.exit(2);
}
try {
  if (mode === 'hostile') {
    const attacks = values.attacks === undefined ? DEFAULT_HOSTILE.attacks : values.attacks.split(',').map((a) => a.trim());
    const unknown = attacks.filter((a) => !(ATTACK_IDS as readonly string[]).includes(a));
    if (unknown.length > 0 || attacks.length === 0) {
      console.error(`--attacks takes a comma-separated list of ${ATTACK_IDS.join(', ')}; got ${JSON.stringify(values.attacks)}`);
      process.exit(2);
    }
    const report = await runHostile({
      seconds: positive('seconds', values.seconds, DEFAULT_HOSTILE.seconds),
      attacks: attacks as AttackId[],
      maxRssGrowthMb: positive('max-rss-growth-mb', values['max-rss-growth-mb'], DEFAULT_HOSTILE.maxRssGrowthMb),
      progress: (l) => console.error(l),
    });
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else printHostile(report);
    process.exit(report.ok ? 0 : 1);
  }
  const report = await runFuzz({
    frames: positive('frames', values.frames, DEFAULT_FUZZ.frames),
    seed: positive('seed', values.seed, DEFAULT_FUZZ.seed),
    concurrency: positive('concurrency', values.concurrency, DEFAULT_FUZZ.concurrency),
    maxRssGrowthMb: positive('max-rss-growth-mb', values['max-rss-growth-mb'], DEFAULT_FUZZ.maxRssGrowthMb),
    progress: (l) => console.error(l),
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else print(report);
  process.exit(report.ok ? 0 : 1);
} catch (err) {
  console.error(`fuzz could not run: ${(err as Error).stack ?? String(err)}`);
  process.exit(2);
}
