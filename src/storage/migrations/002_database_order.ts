/**
 * Version 2: the database allocates message order (DESIGN.md §5, "the database is the log").
 *
 * - `conversations.next_seq`: the next per-conversation sequence number, bumped by the message
 *   writer under the conversation row's lock, so `messages.seq` is gap-free (1, 2, 3, …) and
 *   strictly increasing in commit order within a conversation, whichever server process writes.
 * - `messages.seq` with UNIQUE (conversation_id, seq): the database refuses a second row at a seq.
 * - `messages.client_msg_id`, unique per sender (index on (client_msg_id, sender_id)): a send retried with the same
 *   client-chosen key finds the first one instead of storing twice. The key lives with its message.
 * - `conversation_members.delivered_seq` replaces `delivered_upto` (a message id): cursors are seqs.
 *
 * Existing messages get seq 1..n in id order per conversation; cursors become the seq of the newest
 * message at or below the old id cursor. Each step checks whether it already happened, because
 * MySQL commits DDL implicitly: a migration interrupted half-way completes on the next run.
 */
import type { Dialect, SqlExecutor } from '../driver.js';
import type { Migration } from './index.js';

async function hasColumn(tx: SqlExecutor, dialect: Dialect, table: string, column: string): Promise<boolean> {
  if (dialect === 'sqlite') {
    const cols = await tx.all<{ name: string }>(`PRAGMA table_info(${table})`);
    return cols.some((c) => c.name === column);
  }
  const rows = await tx.all<{ n: unknown }>(
    'SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?',
    [table, column],
  );
  return Number(rows[0]?.n) > 0;
}

async function hasIndex(tx: SqlExecutor, dialect: Dialect, table: string, index: string): Promise<boolean> {
  if (dialect === 'sqlite') {
    const rows = await tx.all<{ n: unknown }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND name = ?", [index]);
    return Number(rows[0]?.n) > 0;
  }
  const rows = await tx.all<{ n: unknown }>(
    'SELECT COUNT(*) AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?',
    [table, index],
  );
  return Number(rows[0]?.n) > 0;
}

const INT: Record<Dialect, string> = { sqlite: 'INTEGER', mysql: 'BIGINT' };
// ascii_bin: the key is [A-Za-z0-9_-] and compared exactly (case matters), 1 byte per character.
const CLIENT_ID: Record<Dialect, string> = { sqlite: 'TEXT', mysql: 'VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin' };

/** seq = position in id order within the conversation (window function: SQLite ≥ 3.25, MySQL 8, MariaDB 10.2). */
const NUMBER_MESSAGES: Record<Dialect, string> = {
  sqlite: `UPDATE messages SET seq = r.rn
             FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY id) AS rn FROM messages) AS r
            WHERE r.id = messages.id AND messages.seq <> r.rn`,
  mysql: `UPDATE messages m
            JOIN (SELECT id, ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY id) AS rn FROM messages) AS r ON r.id = m.id
             SET m.seq = r.rn
           WHERE m.seq <> r.rn`,
};

async function apply(tx: SqlExecutor, dialect: Dialect): Promise<void> {
  const int = INT[dialect];
  if (!(await hasColumn(tx, dialect, 'messages', 'seq'))) {
    await tx.run(`ALTER TABLE messages ADD COLUMN seq ${int} NOT NULL DEFAULT 0`);
  }
  if (!(await hasColumn(tx, dialect, 'messages', 'client_msg_id'))) {
    await tx.run(`ALTER TABLE messages ADD COLUMN client_msg_id ${CLIENT_ID[dialect]} NULL`);
  }
  if (!(await hasIndex(tx, dialect, 'messages', 'messages_conversation_seq'))) {
    await tx.run(NUMBER_MESSAGES[dialect]);
    await tx.run('CREATE UNIQUE INDEX messages_conversation_seq ON messages (conversation_id, seq)');
  }
  if (!(await hasIndex(tx, dialect, 'messages', 'messages_client_msg_sender'))) {
    // The unique key is the pair (sender, key). It leads with the key (random, nearly unique) so a
    // batch looks up all its keys with one `client_msg_id IN (…)`. NULL keys (sends without one)
    // never collide: both engines treat NULLs as distinct.
    await tx.run('CREATE UNIQUE INDEX messages_client_msg_sender ON messages (client_msg_id, sender_id)');
  }
  if (!(await hasColumn(tx, dialect, 'conversations', 'next_seq'))) {
    await tx.run(`ALTER TABLE conversations ADD COLUMN next_seq ${int} NOT NULL DEFAULT 1`);
  }
  // Idempotent: the next seq follows the highest one stored.
  await tx.run(
    'UPDATE conversations SET next_seq = 1 + COALESCE((SELECT MAX(m.seq) FROM messages m WHERE m.conversation_id = conversations.id), 0)',
  );
  if (!(await hasColumn(tx, dialect, 'conversation_members', 'delivered_seq'))) {
    await tx.run(`ALTER TABLE conversation_members ADD COLUMN delivered_seq ${int} NOT NULL DEFAULT 0`);
  }
  if (await hasColumn(tx, dialect, 'conversation_members', 'delivered_upto')) {
    // The member has every message with id ≤ delivered_upto: that is the seq of the newest such message.
    await tx.run(
      `UPDATE conversation_members SET delivered_seq = COALESCE((SELECT MAX(m.seq) FROM messages m
          WHERE m.conversation_id = conversation_members.conversation_id AND m.id <= conversation_members.delivered_upto), 0)`,
    );
    await tx.run('ALTER TABLE conversation_members DROP COLUMN delivered_upto');
  }
}

export const migration002: Migration = { version: 2, name: 'message order by the database (seq, next_seq, client_msg_id)', sqlite: [], mysql: [], apply };
