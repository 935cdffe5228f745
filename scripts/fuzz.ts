/**
 * npm run fuzz [-- --frames 100000 --seed N --concurrency 16 --max-rss-growth-mb 200 --json]
 * Exit 0 only if the server survived, stayed under the RSS bound and still served a valid client.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_FUZZ, runFuzz, type FuzzReport } from './fuzz/harness.js';

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

const { values } = parseArgs({
  options: {
    frames: { type: 'string' },
    seed: { type: 'string' },
    concurrency: { type: 'string' },
    'max-rss-growth-mb': { type: 'string' },
    json: { type: 'boolean' },
  },
});
try {
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
