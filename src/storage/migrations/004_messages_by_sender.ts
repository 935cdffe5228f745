/**
 * Version 4 (issue 10, the per-user storage quota): an index on messages (sender_id, kind), so
 * the quota's once-per-user-per-process reading of the text bytes a user has sent
 * (`textBytesOf`) walks that user's messages only, never the whole table. DDL without IF NOT
 * EXISTS on MySQL, so it looks before it creates (a half-applied run completes on the next).
 */
import type { Dialect, SqlExecutor } from '../driver.js';
import type { Migration } from './index.js';

const INDEX = 'messages_sender';

async function hasIndex(tx: SqlExecutor, dialect: Dialect): Promise<boolean> {
  const rows =
    dialect === 'sqlite'
      ? await tx.all<{ n: unknown }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND name = ?", [INDEX])
      : await tx.all<{ n: unknown }>(
          'SELECT COUNT(*) AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?',
          ['messages', INDEX],
        );
  return Number(rows[0]?.n) > 0;
}

async function apply(tx: SqlExecutor, dialect: Dialect): Promise<void> {
  if (!(await hasIndex(tx, dialect))) await tx.run(`CREATE INDEX ${INDEX} ON messages (sender_id, kind)`);
}

export const migration004: Migration = { version: 4, name: 'messages by sender (storage quota)', sqlite: [], mysql: [], apply };
