/**
 * Durable message writes: storage.appendMessage (group commit: one transaction per batch) with
 * many appends in flight, against a single-row autocommit INSERT on the same database, one at a
 * time (what a naive server does per message). Runs inside a bench child process.
 */
import type { SqlStorage } from '../../src/storage/index.js';
import { nowUs, runLoops } from './stats.js';

export interface WriteResult {
  writes: number;
  seconds: number;
  perSecond: number;
  cpuUs: number;
}

function cpuNow(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

async function timed(seconds: number, concurrency: number, op: () => Promise<void>): Promise<WriteResult> {
  const cpu0 = cpuNow();
  const t0 = nowUs();
  const writes = await runLoops(concurrency, t0 + seconds * 1e6, op);
  const elapsed = (nowUs() - t0) / 1e6;
  return { writes, seconds: elapsed, perSecond: writes / elapsed, cpuUs: cpuNow() - cpu0 };
}

export async function benchWrites(
  storage: SqlStorage,
  opts: { seconds: number; baselineSeconds: number; concurrency: number },
): Promise<{ groupCommit: WriteResult; autocommit: WriteResult }> {
  const a = await storage.createUser({ username: 'writer_a', passwordHash: 'x' });
  const b = await storage.createUser({ username: 'writer_b', passwordHash: 'x' });
  const dm = await storage.getOrCreateDm(a.id, b.id);
  const body = 'x'.repeat(200);
  // Warm-up: prepared statements, page cache.
  await Promise.all(Array.from({ length: 512 }, () => storage.appendMessage({ conversationId: dm.id, senderId: a.id, kind: 'text', body })));
  const groupCommit = await timed(opts.seconds, opts.concurrency, async () => {
    await storage.appendMessage({ conversationId: dm.id, senderId: a.id, kind: 'text', body });
  });
  const autocommit = await timed(opts.baselineSeconds, 1, async () => {
    await storage.db.run('INSERT INTO messages (conversation_id, sender_id, kind, body, file_id, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      dm.id,
      a.id,
      'text',
      body,
      null,
      Date.now(),
    ]);
  });
  return { groupCommit, autocommit };
}
