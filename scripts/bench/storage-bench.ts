/**
 * Durable message writes: storage.appendMessage (group commit: one transaction per batch) with
 * many appends in flight, against one message per transaction, one at a time (what a naive server
 * does per message: lock the conversation, bump its seq, insert, commit). Every message carries a
 * client_msg_id, as every send of the client library does. A third figure is the database's own
 * ceiling for these rows: the same multi-row INSERTs, 1,024 rows per transaction, one transaction
 * after another, with nothing else (no seq allocation, no ids handed back, no callers) — what the
 * schema's indexes and the fsync cost on this machine. Runs inside a bench child process.
 */
import { randomBytes } from 'node:crypto';
import type { SqlStorage } from '../../src/storage/index.js';
import { writeMessageBatch } from '../../src/storage/message-batch.js';
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
): Promise<{ groupCommit: WriteResult; autocommit: WriteResult; insertCeiling: WriteResult }> {
  const a = await storage.createUser({ username: 'writer_a', passwordHash: 'x' });
  const b = await storage.createUser({ username: 'writer_b', passwordHash: 'x' });
  const dm = await storage.getOrCreateDm(a.id, b.id);
  const body = 'x'.repeat(200);
  const prefix = randomBytes(6).toString('base64url');
  let n = 0;
  const message = () => ({ conversationId: dm.id, senderId: a.id, kind: 'text' as const, body, clientMsgId: `${prefix}-${++n}` });
  // Warm-up: prepared statements, page cache.
  await Promise.all(Array.from({ length: 512 }, () => storage.appendMessage(message())));
  const groupCommit = await timed(opts.seconds, opts.concurrency, async () => {
    await storage.appendMessage(message());
  });
  const { db } = storage;
  const autocommit = await timed(opts.baselineSeconds, 1, async () => {
    await db.transaction((tx) => writeMessageBatch(tx, db.dialect, db.forUpdate, [message()], Date.now()));
  });
  // The ceiling: seqs continue past whatever the runs above stored (the conversation's next_seq).
  const [{ next_seq: nextSeq }] = await db.all<{ next_seq: number }>('SELECT next_seq FROM conversations WHERE id = ?', [dm.id]);
  let seq = Number(nextSeq) + 1_000_000;
  const ROWS = 256;
  const sql = `INSERT INTO messages (conversation_id, seq, sender_id, kind, body, file_id, created_at, client_msg_id) VALUES ${Array(ROWS).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
  const raw = await timed(opts.seconds, 1, async () => {
    await db.transaction(async (tx) => {
      for (let k = 0; k < 4; k++) {
        const params: (string | number | null)[] = [];
        for (let i = 0; i < ROWS; i++) params.push(dm.id, seq++, a.id, 'text', body, null, Date.now(), `${prefix}-c${seq}`);
        await tx.run(sql, params);
      }
    });
  });
  const insertCeiling = { ...raw, writes: raw.writes * 4 * ROWS, perSecond: (raw.writes * 4 * ROWS) / raw.seconds };
  return { groupCommit, autocommit, insertCeiling };
}
