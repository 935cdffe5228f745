/**
 * Versioned schema migrations. Applied at open and by `securechat db migrate`: each migration runs
 * once, in order, and is recorded in `schema_version`; running again is a no-op. A database whose
 * schema is newer than the newest migration this code knows is refused with `schema_too_new`,
 * because writing to it could corrupt data the newer version depends on.
 *
 * Migrations are written with IF NOT EXISTS so that a half-applied one (MySQL commits DDL
 * implicitly, so a crash can leave some tables behind) simply completes on the next run.
 */
import { SecureChatError } from '../../errors.js';
import type { Dialect, SqlDriver, SqlExecutor } from '../driver.js';
import { migration001 } from './001_initial.js';
import { migration002 } from './002_database_order.js';
import { migration003 } from './003_account_events.js';
import { migration004 } from './004_messages_by_sender.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: readonly string[];
  mysql: readonly string[];
  /** Steps that need to look before they change (data conversion, DDL without IF NOT EXISTS); runs after the statements. */
  apply?: (tx: SqlExecutor, dialect: Dialect) => Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [migration001, migration002, migration003, migration004];
export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

const CREATE_VERSION_TABLE: Record<Dialect, string> = {
  sqlite: 'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  mysql:
    'CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL, applied_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
};

const VERSION_TABLE_EXISTS: Record<Dialect, string> = {
  sqlite: "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
  mysql: "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'schema_version'",
};

export interface MigrationStatus {
  current: number;
  latest: number;
  pending: number[];
  /** Every migration this code knows, and whether the database has it (what `db status` lists). */
  migrations: { version: number; name: string; applied: boolean }[];
}

/** The schema version recorded in the database (0 for an empty one). */
export async function currentSchemaVersion(db: SqlDriver): Promise<number> {
  // Looked up rather than created, so that a read-only database can report its version too.
  const exists = await db.all<{ n: number }>(VERSION_TABLE_EXISTS[db.dialect]);
  if (Number(exists[0]?.n) === 0) return 0;
  const rows = await db.all<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version');
  return Number(rows[0]?.v ?? 0);
}

/** Versions recorded in schema_version (a database may have skipped one that was merged later). */
async function recordedVersions(db: SqlDriver, current: number): Promise<Set<number>> {
  if (current === 0) return new Set();
  const rows = await db.all<{ version: unknown }>('SELECT version FROM schema_version');
  return new Set(rows.map((r) => Number(r.version)));
}

export async function migrationStatus(db: SqlDriver): Promise<MigrationStatus> {
  const current = await currentSchemaVersion(db);
  const done = await recordedVersions(db, current);
  return {
    current,
    latest: LATEST_SCHEMA_VERSION,
    pending: MIGRATIONS.filter((m) => !done.has(m.version)).map((m) => m.version),
    migrations: MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied: done.has(m.version) })),
  };
}

function refuseNewer(current: number): void {
  if (current > LATEST_SCHEMA_VERSION) {
    throw new SecureChatError('schema_too_new', undefined, { details: { schemaVersion: current, supported: LATEST_SCHEMA_VERSION } });
  }
}

/**
 * Applies every pending migration (up to `target`, default all: tests build old schemas with it);
 * returns the versions applied (empty when up to date).
 */
export async function migrate(db: SqlDriver, now: () => number = Date.now, target = LATEST_SCHEMA_VERSION): Promise<number[]> {
  const current = await currentSchemaVersion(db);
  refuseNewer(current);
  await db.run(CREATE_VERSION_TABLE[db.dialect]);
  const done = await recordedVersions(db, current);
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version) || m.version > target) continue;
    await runOne(db, m, now, applied);
  }
  return applied;
}

async function runOne(db: SqlDriver, m: Migration, now: () => number, applied: number[]): Promise<void> {
  try {
    await db.transaction(async (tx) => {
      // Re-check inside the transaction: another process may have migrated meanwhile.
      const rows = await tx.all<{ n: number }>('SELECT COUNT(*) AS n FROM schema_version WHERE version = ?', [m.version]);
      if (Number(rows[0]?.n) > 0) return;
      for (const statement of m[db.dialect]) await tx.run(statement);
      await m.apply?.(tx, db.dialect);
      await tx.run('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, now()]);
      applied.push(m.version);
    });
  } catch (err) {
    // A concurrent migrator recorded the same version first: that is success.
    if (!(err instanceof SecureChatError && err.code === 'exists')) throw err;
  }
}

/** For opening without migrating: refuses a newer schema and an unmigrated one alike. */
export async function assertSchemaCurrent(db: SqlDriver): Promise<void> {
  const current = await currentSchemaVersion(db);
  refuseNewer(current);
  if (current < LATEST_SCHEMA_VERSION) {
    throw new SecureChatError('storage_unavailable', 'The database schema is out of date; run `securechat db migrate`.', {
      reason: 'schema_outdated',
      details: { schemaVersion: current, latest: LATEST_SCHEMA_VERSION },
    });
  }
}
