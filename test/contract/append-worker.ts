/**
 * A second "server process" for the storage contract: opens the database at argv[2], prints
 * `ready`, waits for `go` on stdin (so several workers start writing at the same moment), then
 * appends every send of argv[3] (JSON) with `concurrency` in flight, as a server's group commit
 * would see them, and prints one JSON line with what each append returned.
 */
import { createInterface } from 'node:readline';
import { openStorage } from '../../src/storage/index.js';
import type { NewMessage } from '../../src/storage/types.js';

export interface WorkerJob {
  sends: NewMessage[];
  concurrency: number;
}

export interface WorkerAck {
  body: string;
  id?: number;
  seq?: number;
  duplicate?: boolean;
  error?: string;
}

const [url, jobJson] = process.argv.slice(2);
const job = JSON.parse(jobJson) as WorkerJob;
const storage = await openStorage(url);
process.stdout.write('ready\n');
await new Promise<void>((resolve) => {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'go') {
      rl.close();
      resolve();
    }
  });
});

const acks: WorkerAck[] = new Array(job.sends.length);
let next = 0;
async function lane(): Promise<void> {
  for (let i = next++; i < job.sends.length; i = next++) {
    const send = job.sends[i];
    try {
      const m = await storage.appendMessage(send);
      acks[i] = { body: send.body, id: m.id, seq: m.seq, ...(m.duplicate ? { duplicate: true } : {}) };
    } catch (err) {
      acks[i] = { body: send.body, error: (err as { code?: string }).code ?? String(err) };
    }
  }
}
await Promise.all(Array.from({ length: job.concurrency }, lane));
await storage.close();
process.stdout.write(JSON.stringify(acks) + '\n');
