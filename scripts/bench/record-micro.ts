/**
 * Record layer micro-benchmark: seal + open of one record, in-process, per body size. Used to show
 * the crypto provider indirection costs nothing on the synchronous Node path.
 *
 *   npx tsx scripts/bench/record-micro.ts [--seconds N]
 */
import { randomBytes } from 'node:crypto';
import { ContentType, RecordOpener, RecordSealer } from '../../src/protocol/record.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 2);
const keys = { key: randomBytes(32), iv: randomBytes(12) };

for (const size of [64, 1024, 16384]) {
  const body = randomBytes(size);
  const sealer = new RecordSealer(keys);
  const opener = new RecordOpener(keys);
  for (let i = 0; i < 20_000; i++) opener.open(sealer.seal(ContentType.application, body).subarray(4));
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i++) opener.open(sealer.seal(ContentType.application, body).subarray(4));
    n += 1000;
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpu0);
  // CPU time, not wall time: on a shared machine the wall clock mostly measures the neighbours.
  const cpuUs = (cpu.user + cpu.system) / n;
  console.log(`record seal+open ${String(size).padStart(5)} B: ${cpuUs.toFixed(2)} µs CPU/record (${n} records)`);
}
