/**
 * Writes one group-commit batch of messages with multi-row INSERTs and ids chosen here, not by
 * AUTO_INCREMENT. Why: a multi-row INSERT only gets consecutive auto-increment ids under some
 * `innodb_autoinc_lock_mode` settings (MySQL 8 defaults to 2, interleaved), and one INSERT per row
 * costs one round trip per message on MySQL. With explicit ids a batch is a few statements.
 *
 * Ids stay strictly increasing in commit order because batches are written one at a time by the
 * single MessageWriter of the single server process per database (see README: one server process
 * per database). The next id is read inside the batch's transaction from the table's high-water
 * mark — the larger of MAX(id) and the auto-increment counter, so ids of deleted messages are never
 * reused (clients drop ids they have already seen). SQLite re-reads it for every batch (its
 * transaction holds the database write lock, so the read is exact and costs two index lookups);
 * MySQL reads it once and after any failed batch, then counts on. If another process writes
 * messages to the same database anyway, its ids collide with ours on the primary key and the batch
 * fails loudly with `storage_unavailable` / `message_id_conflict`; nothing is stored out of order,
 * because a colliding batch is rolled back whole. Gaps after a failed batch are harmless.
 */
import { SecureChatError } from '../errors.js';
import type { Dialect, SqlExecutor, SqlValue } from './driver.js';
import { toStorageError } from './errors.js';
import type { NewMessage, StoredMessage } from './types.js';

const COLUMNS = '(id, conversation_id, sender_id, kind, body, file_id, created_at)';
const PARAMS_PER_ROW = 7;
/** Rows per INSERT: powers of two up to this, so at most 9 distinct statements are ever prepared. */
const MAX_ROWS_PER_INSERT = 256;
/** Keeps one statement far below MySQL's max_allowed_packet (16 MiB default on MariaDB). */
const MAX_BYTES_PER_INSERT = 4 * 1024 * 1024;

const insertSql = new Map<number, string>();

function sqlFor(rows: number): string {
  let sql = insertSql.get(rows);
  if (!sql) {
    sql = `INSERT INTO messages ${COLUMNS} VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
    insertSql.set(rows, sql);
  }
  return sql;
}

/** Largest power of two ≤ n (n ≥ 1). */
function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/** Splits `count` rows starting at `from` into INSERT-sized chunks by row count and body bytes. */
function chunkSize(rows: readonly StoredMessage[], from: number): number {
  let size = floorPow2(Math.min(rows.length - from, MAX_ROWS_PER_INSERT));
  for (;;) {
    let bytes = 0;
    for (let i = from; i < from + size; i++) bytes += rows[i].body.length * 3; // UTF-16 unit → at most 3 UTF-8 bytes
    if (bytes <= MAX_BYTES_PER_INSERT || size === 1) return size;
    size /= 2;
  }
}

/** The largest message id ever assigned in this database (0 when none). */
export async function messageIdHighWater(tx: SqlExecutor, dialect: Dialect): Promise<number> {
  const [max] = await tx.all<{ m: unknown }>('SELECT COALESCE(MAX(id), 0) AS m FROM messages');
  const counter =
    dialect === 'sqlite'
      ? await tx.all<{ c: unknown }>("SELECT seq AS c FROM sqlite_sequence WHERE name = 'messages'")
      : // AUTO_INCREMENT is the next id; NULL when the table never had a row.
        await tx.all<{ c: unknown }>(
          "SELECT AUTO_INCREMENT - 1 AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'messages'",
        );
  return Math.max(Number(max?.m ?? 0), Number(counter[0]?.c ?? 0));
}

/**
 * Inserts `batch` with ids firstId, firstId + 1, … in the given order, inside the caller's
 * transaction. A primary-key collision (another writer) becomes storage_unavailable.
 */
export async function insertMessages(tx: SqlExecutor, batch: readonly NewMessage[], firstId: number, now: number): Promise<StoredMessage[]> {
  const stored = batch.map(
    (m, i): StoredMessage => ({
      id: firstId + i,
      conversationId: m.conversationId,
      senderId: m.senderId,
      kind: m.kind,
      body: m.body,
      fileId: m.fileId ?? null,
      createdAt: m.createdAt ?? now,
    }),
  );
  try {
    for (let from = 0; from < stored.length; ) {
      const size = chunkSize(stored, from);
      const params: SqlValue[] = new Array(size * PARAMS_PER_ROW);
      for (let i = 0; i < size; i++) {
        const s = stored[from + i];
        const p = i * PARAMS_PER_ROW;
        params[p] = s.id;
        params[p + 1] = s.conversationId;
        params[p + 2] = s.senderId;
        params[p + 3] = s.kind;
        params[p + 4] = s.body;
        params[p + 5] = s.fileId;
        params[p + 6] = s.createdAt;
      }
      await tx.run(sqlFor(size), params);
      from += size;
    }
  } catch (err) {
    // The only unique key on messages is its id: someone else assigned the same one.
    if (toStorageError(err).code === 'exists') {
      throw new SecureChatError(
        'storage_unavailable',
        'Message id conflict: another process is writing messages to this database (run one server process per database).',
        { reason: 'message_id_conflict', cause: err },
      );
    }
    throw err;
  }
  return stored;
}
