/**
 * Writes one group-commit batch of messages inside the caller's transaction, with the order
 * allocated by the database (DESIGN.md §5), so any number of server processes may share it:
 *
 * 1. Sends retried with a `clientMsgId` already stored for that sender are answered with the stored
 *    message (`duplicate: true`) and not stored again; so is a repeat inside the batch. With
 *    `findRetries` the stored ones are looked up first: the lookup reads only the (client_msg_id,
 *    sender_id) index, which covers it, and fetches whole rows for the rare hits. Without it (the
 *    caller's fast path: retries are rare) a stored retry makes the INSERT fail on that unique index
 *    (`exists`), the caller's transaction rolls back whole, and the caller writes the batch again
 *    with `findRetries` (SqlStorage.writeBatch).
 * 2. The conversations of the remaining messages are locked (`SELECT … FOR UPDATE` in id order, so
 *    two writers never deadlock on each other; SQLite's transaction already holds the write lock)
 *    and their `next_seq` read: seqs are handed out in batch order and `next_seq` bumped, so every
 *    conversation stays gap-free and strictly increasing in commit order, whoever writes it.
 * 3. Multi-row INSERTs store the messages; `id` comes from AUTO_INCREMENT, which the database keeps
 *    (never re-read from information_schema, whose MySQL 8+ copy is cached and stale). A writer
 *    allocates ids only after it holds its conversations' locks, so within a conversation a later
 *    seq always has a larger id. SQLite (one writer) gives a statement consecutive rowids; so does
 *    MySQL under innodb_autoinc_lock_mode 0/1 (spaced by auto_increment_increment: see
 *    SqlExecutor.insertIdStep); under mode 2 the ids are read back by the unique key
 *    (conversation_id, seq).
 *
 * A batch that fails rolls back whole, seq bumps included, so a failure leaves no gap either.
 */
import { SecureChatError } from '../errors.js';
import type { Dialect, SqlExecutor, SqlValue } from './driver.js';
import type { NewMessage, StoredMessage } from './types.js';

export const MESSAGE_COLS = 'id, conversation_id, seq, sender_id, kind, body, file_id, created_at, client_msg_id';
const INSERT_COLS = '(conversation_id, seq, sender_id, kind, body, file_id, created_at, client_msg_id)';
const PARAMS_PER_ROW = 8;
/** Rows (or keys) per statement: powers of two up to this, so few distinct statements are ever prepared. */
const MAX_ROWS_PER_STATEMENT = 256;
/** Keeps one statement far below MySQL's max_allowed_packet (16 MiB default on MariaDB). */
const MAX_BYTES_PER_INSERT = 4 * 1024 * 1024;

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const str = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

export function toStoredMessage(r: Row): StoredMessage {
  return {
    id: num(r.id),
    conversationId: num(r.conversation_id),
    seq: num(r.seq),
    senderId: num(r.sender_id),
    kind: str(r.kind) as StoredMessage['kind'],
    body: str(r.body),
    fileId: r.file_id === null || r.file_id === undefined ? null : num(r.file_id),
    createdAt: num(r.created_at),
    clientMsgId: r.client_msg_id === null || r.client_msg_id === undefined ? null : str(r.client_msg_id),
  };
}

const sqlCache = new Map<string, string>();

/** `build(n)` memoised per (name, n). */
function cached(name: string, n: number, build: (n: number) => string): string {
  const key = `${name}:${n}`;
  let sql = sqlCache.get(key);
  if (!sql) {
    sql = build(n);
    sqlCache.set(key, sql);
  }
  return sql;
}

/** Largest power of two ≤ n (n ≥ 1). */
function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/** Smallest power of two ≥ n (n ≥ 1). */
function ceilPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/** Splits `values` into chunks of ≤ MAX_ROWS_PER_STATEMENT, each padded (with its last value) to a power of two. */
function paddedChunks<T>(values: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let from = 0; from < values.length; from += MAX_ROWS_PER_STATEMENT) {
    const chunk = values.slice(from, from + MAX_ROWS_PER_STATEMENT);
    const size = ceilPow2(chunk.length);
    while (chunk.length < size) chunk.push(chunk[chunk.length - 1]);
    out.push(chunk);
  }
  return out;
}

const placeholders = (n: number): string => Array(n).fill('?').join(', ');

/** The stored message a sender's `clientMsgId` already names, or null. */
export async function findByClientMsgId(ex: SqlExecutor, senderId: number, clientMsgId: string): Promise<StoredMessage | null> {
  const rows = await ex.all<Row>(`SELECT ${MESSAGE_COLS} FROM messages WHERE client_msg_id = ? AND sender_id = ?`, [clientMsgId, senderId]);
  return rows.length > 0 ? toStoredMessage(rows[0]) : null;
}

const clientKey = (senderId: number, clientMsgId: string): string => `${senderId}:${clientMsgId}`;

/** Stored messages whose (sender, clientMsgId) appears in `batch`, by clientKey. */
async function storedByClientKey(tx: SqlExecutor, batch: readonly NewMessage[]): Promise<Map<string, StoredMessage>> {
  const found = new Map<string, StoredMessage>();
  const wanted = new Set<string>();
  for (const m of batch) if (m.clientMsgId) wanted.add(clientKey(m.senderId, m.clientMsgId));
  if (wanted.size === 0) return found;
  // The index leads with client_msg_id (random, nearly unique), so an IN list of keys is a few probes.
  const ids = [...new Set(batch.filter((m) => m.clientMsgId).map((m) => m.clientMsgId as string))];
  const hits: number[] = [];
  for (const chunk of paddedChunks(ids)) {
    const sql = cached('client', chunk.length, (n) => `SELECT id, sender_id, client_msg_id FROM messages WHERE client_msg_id IN (${placeholders(n)})`);
    for (const row of await tx.all<Row>(sql, chunk)) {
      if (wanted.has(clientKey(num(row.sender_id), str(row.client_msg_id)))) hits.push(num(row.id));
    }
  }
  for (const chunk of hits.length > 0 ? paddedChunks(hits) : []) {
    const sql = cached('byId', chunk.length, (n) => `SELECT ${MESSAGE_COLS} FROM messages WHERE id IN (${placeholders(n)})`);
    for (const row of await tx.all<Row>(sql, chunk)) {
      const m = toStoredMessage(row);
      found.set(clientKey(m.senderId, m.clientMsgId as string), m);
    }
  }
  return found;
}

/** Locks the conversations and returns each one's next seq; missing conversations are absent. */
async function lockConversations(tx: SqlExecutor, ids: readonly number[], forUpdate: string): Promise<Map<number, number>> {
  const next = new Map<number, number>();
  for (const chunk of paddedChunks([...ids].sort((a, b) => a - b))) {
    const sql = cached(`lock${forUpdate}`, chunk.length, (n) => `SELECT id, next_seq FROM conversations WHERE id IN (${placeholders(n)}) ORDER BY id${forUpdate}`);
    for (const row of await tx.all<Row>(sql, chunk)) next.set(num(row.id), num(row.next_seq));
  }
  return next;
}

async function bumpNextSeq(tx: SqlExecutor, next: ReadonlyMap<number, number>): Promise<void> {
  for (const chunk of paddedChunks([...next.entries()])) {
    const sql = cached('bump', chunk.length, (n) =>
      `UPDATE conversations SET next_seq = CASE id ${Array(n).fill('WHEN ? THEN ?').join(' ')} END WHERE id IN (${placeholders(n)})`,
    );
    await tx.run(sql, [...chunk.flat(), ...chunk.map(([id]) => id)]);
  }
}

/** Rows per INSERT: a power of two, at most MAX_ROWS_PER_STATEMENT, and below MAX_BYTES_PER_INSERT of body. */
function chunkSize(rows: readonly StoredMessage[], from: number): number {
  let size = floorPow2(Math.min(rows.length - from, MAX_ROWS_PER_STATEMENT));
  for (;;) {
    let bytes = 0;
    for (let i = from; i < from + size; i++) bytes += rows[i].body.length * 3; // UTF-16 unit → at most 3 UTF-8 bytes
    if (bytes <= MAX_BYTES_PER_INSERT || size === 1) return size;
    size /= 2;
  }
}

/** Inserts `rows` (seq assigned, id not yet); fills in their ids. */
async function insertRows(tx: SqlExecutor, dialect: Dialect, rows: StoredMessage[]): Promise<void> {
  const step = tx.insertIdStep ?? null;
  for (let from = 0; from < rows.length; ) {
    const size = chunkSize(rows, from);
    const params: SqlValue[] = new Array(size * PARAMS_PER_ROW);
    for (let i = 0; i < size; i++) {
      const s = rows[from + i];
      const p = i * PARAMS_PER_ROW;
      params[p] = s.conversationId;
      params[p + 1] = s.seq;
      params[p + 2] = s.senderId;
      params[p + 3] = s.kind;
      params[p + 4] = s.body;
      params[p + 5] = s.fileId;
      params[p + 6] = s.createdAt;
      params[p + 7] = s.clientMsgId;
    }
    const sql = cached('insert', size, (n) => `INSERT INTO messages ${INSERT_COLS} VALUES ${Array(n).fill(`(${placeholders(PARAMS_PER_ROW)})`).join(', ')}`);
    const r = await tx.run(sql, params);
    // SQLite: the only writer, so the statement's rowids are consecutive, ending at the last insert id.
    if (dialect === 'sqlite') for (let i = 0; i < size; i++) rows[from + i].id = r.insertId - size + 1 + i;
    // MySQL: insertId is the first row's; the rest follow it when the lock mode guarantees that.
    else if (step) for (let i = 0; i < size; i++) rows[from + i].id = r.insertId + i * step;
    from += size;
  }
  if (dialect === 'mysql' && !step) await readBackIds(tx, rows);
}

/** MySQL: the ids AUTO_INCREMENT gave `rows`, found by their (conversation_id, seq). */
async function readBackIds(tx: SqlExecutor, rows: StoredMessage[]): Promise<void> {
  const ranges = new Map<number, [number, number]>();
  for (const r of rows) {
    const range = ranges.get(r.conversationId);
    if (range) range[1] = r.seq;
    else ranges.set(r.conversationId, [r.seq, r.seq]);
  }
  const byKey = new Map(rows.map((r) => [`${r.conversationId}:${r.seq}`, r]));
  for (const chunk of paddedChunks([...ranges.entries()])) {
    const sql = cached('ids', chunk.length, (n) =>
      `SELECT id, conversation_id, seq FROM messages WHERE ${Array(n).fill('(conversation_id = ? AND seq BETWEEN ? AND ?)').join(' OR ')}`,
    );
    for (const row of await tx.all<Row>(sql, chunk.flatMap(([conv, [lo, hi]]) => [conv, lo, hi]))) {
      const target = byKey.get(`${num(row.conversation_id)}:${num(row.seq)}`);
      if (target) target.id = num(row.id);
    }
  }
  if (rows.some((r) => r.id === 0)) throw new SecureChatError('internal', 'A stored message could not be found by its seq.');
}

/**
 * Writes `batch` in the caller's transaction. Each result is the stored message (a retried send:
 * the one stored first, `duplicate: true`) or, for a message naming a conversation that does not
 * exist, a not_found error for that message alone.
 */
export async function writeMessageBatch(
  tx: SqlExecutor,
  dialect: Dialect,
  forUpdate: string,
  batch: readonly NewMessage[],
  now: number,
  findRetries = true,
): Promise<(StoredMessage | SecureChatError)[]> {
  const stored = findRetries ? await storedByClientKey(tx, batch) : new Map<string, StoredMessage>();
  const out: (StoredMessage | SecureChatError | null)[] = batch.map((m) => {
    const prior = m.clientMsgId ? stored.get(clientKey(m.senderId, m.clientMsgId)) : undefined;
    return prior ? { ...prior, duplicate: true } : null;
  });
  const fresh = batch.map((_, i) => i).filter((i) => out[i] === null);
  const next = await lockConversations(tx, [...new Set(fresh.map((i) => batch[i].conversationId))], forUpdate);
  const rows: StoredMessage[] = [];
  const touched = new Map<number, number>();
  const inBatch = new Map<string, StoredMessage>();
  const rowIndex: number[] = [];
  for (const i of fresh) {
    const m = batch[i];
    const seq = next.get(m.conversationId);
    if (seq === undefined) {
      out[i] = new SecureChatError('not_found', 'No such conversation.');
      continue;
    }
    const key = m.clientMsgId ? clientKey(m.senderId, m.clientMsgId) : null;
    const twin = key ? inBatch.get(key) : undefined;
    if (twin) {
      // The same send twice in one batch: the second is a retry of the first.
      rowIndex.push(i);
      out[i] = twin;
      continue;
    }
    next.set(m.conversationId, seq + 1);
    touched.set(m.conversationId, seq + 1);
    const row: StoredMessage = {
      id: 0,
      conversationId: m.conversationId,
      seq,
      senderId: m.senderId,
      kind: m.kind,
      body: m.body,
      fileId: m.fileId ?? null,
      createdAt: m.createdAt ?? now,
      clientMsgId: m.clientMsgId ?? null,
    };
    if (key) inBatch.set(key, row);
    rows.push(row);
    out[i] = row;
  }
  if (rows.length > 0) {
    await bumpNextSeq(tx, touched);
    await insertRows(tx, dialect, rows);
  }
  // Twins are copied once the first one has its id.
  for (const i of rowIndex) out[i] = { ...(out[i] as StoredMessage), duplicate: true };
  return out as (StoredMessage | SecureChatError)[];
}
