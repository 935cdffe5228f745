/**
 * Version 4 (issue 10, the per-user storage quota): indexes by sender, so the quota's
 * once-per-user-per-process reading of what a user has stored — the text bytes of their messages
 * (`textBytesOf`) and the size of their files (`fileBytesOf`) — walks that user's rows only,
 * never a whole table.
 * - `messages_sender` on messages (sender_id, kind), both dialects. MySQL has no CREATE INDEX IF
 *   NOT EXISTS, so it looks before it creates (a half-applied run completes on the next).
 * - `files_sender` on files (sender_id), SQLite only: InnoDB already indexes the foreign key.
 */
import type { Dialect, SqlExecutor } from '../driver.js';
import type { Migration } from './index.js';

async function hasMysqlIndex(tx: SqlExecutor, table: string, index: string): Promise<boolean> {
  const rows = await tx.all<{ n: unknown }>(
    'SELECT COUNT(*) AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?',
    [table, index],
  );
  return Number(rows[0]?.n) > 0;
}

async function apply(tx: SqlExecutor, dialect: Dialect): Promise<void> {
  if (dialect === 'mysql' && !(await hasMysqlIndex(tx, 'messages', 'messages_sender'))) {
    await tx.run('CREATE INDEX messages_sender ON messages (sender_id, kind)');
  }
}

const sqlite = [
  'CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender_id, kind)',
  'CREATE INDEX IF NOT EXISTS files_sender ON files (sender_id)',
];

export const migration004: Migration = { version: 4, name: 'indexes by sender (storage quota)', sqlite, mysql: [], apply };
