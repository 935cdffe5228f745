/**
 * Version 3 (issue 9 §3): operator actions that reach live sessions, and login sources that
 * survive a restart.
 * - `credential_versions`: one counter per user, bumped in the same transaction as every change
 *   that must end the user's other sessions (disable, password reset, password change). A session
 *   remembers the version it logged in under. A table of its own, not a column of `users`, so the
 *   migration stays re-runnable (MySQL has no ADD COLUMN IF NOT EXISTS, and its DDL commits).
 * - `account_events`: an append-only log of those bumps. Every server process polls it with
 *   `WHERE id > last` (cheap, indexed by the primary key), so a CLI writing the database, or
 *   another server process, reaches every process's sessions within the poll interval. Old rows
 *   are pruned.
 * - `login_sources`: the (user, address) pairs that registered or logged in successfully, so the
 *   login throttle's "known source" exemption is not forgotten by a restart.
 */
import type { Migration } from './index.js';

const sqlite = [
  `CREATE TABLE IF NOT EXISTS credential_versions (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS account_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    origin_session TEXT,
    at INTEGER NOT NULL
  )`,
  `CREATE INDEX IF NOT EXISTS account_events_at ON account_events (at)`,
  `CREATE TABLE IF NOT EXISTS login_sources (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (user_id, ip)
  )`,
];

const TABLE = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

const mysql = [
  `CREATE TABLE IF NOT EXISTS credential_versions (
    user_id BIGINT NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
  ) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS account_events (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    kind VARCHAR(32) NOT NULL,
    origin_session VARCHAR(64) NULL,
    at BIGINT NOT NULL,
    KEY account_events_at (at)
  ) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS login_sources (
    user_id BIGINT NOT NULL,
    ip VARCHAR(64) NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (user_id, ip),
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
  ) ${TABLE}`,
];

export const migration003: Migration = { version: 3, name: 'account events, credential versions, login sources', sqlite, mysql };
