/**
 * better-sqlite3 behind the async SqlDriver seam. better-sqlite3 is synchronous and uses one
 * connection, so an async transaction must not interleave with other statements: a promise-chain
 * mutex serialises every call, and a transaction holds it from BEGIN IMMEDIATE to COMMIT.
 *
 * Durability: WAL + synchronous=FULL, so a commit is fsynced before the promise resolves (NORMAL
 * could lose the last commits on power loss, and we acknowledge messages on commit).
 */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { toStorageError } from '../errors.js';
import type { RunResult, SqlDriver, SqlExecutor, SqlValue } from '../driver.js';

export interface SqliteDriverOptions {
  /** Open read-only (inspection, replicas); every write fails with storage_unavailable. */
  readonly?: boolean;
  busyTimeoutMs?: number;
}

// SQLITE_MAX_LENGTH default: no single value may exceed 1e9 bytes.
const SQLITE_MAX_BLOB = 1_000_000_000;

export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly forUpdate = '';
  private readonly db: SqliteDatabase;
  private readonly statements = new Map<string, Statement>();
  private lock: Promise<unknown> = Promise.resolve();
  private readonly direct: SqlExecutor;

  constructor(readonly path: string, options: SqliteDriverOptions = {}) {
    try {
      if (!options.readonly) {
        // Messages, files and password hashes: 0700 / 0600 whatever the umask. SQLite gives the
        // -wal and -shm files the database file's mode, so creating it first covers them too.
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
      }
      this.db = new Database(path, { readonly: Boolean(options.readonly), fileMustExist: Boolean(options.readonly) });
      this.db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      if (!options.readonly) this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
    } catch (err) {
      throw toStorageError(err);
    }
    this.direct = {
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => this.prepare(sql).all(...params) as T[],
      run: async (sql: string, params: readonly SqlValue[] = []): Promise<RunResult> => {
        const r = this.prepare(sql).run(...params);
        return { insertId: Number(r.lastInsertRowid), affectedRows: r.changes };
      },
    };
  }

  private prepare(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs `fn` after every earlier call finished; errors are mapped and do not break the chain. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next.catch((err: unknown) => {
      throw toStorageError(err);
    });
  }

  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.exclusive(() => this.direct.all<T>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    return this.exclusive(() => this.direct.run(sql, params));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.direct);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) {
          try {
            this.db.exec('ROLLBACK');
          } catch {
            // The original error matters more; SQLite rolls back by itself if ROLLBACK fails.
          }
        }
        throw err;
      }
    });
  }

  /** One connection serves everything here; the write lock serialises anyway. */
  writerTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.transaction(fn);
  }

  async maxBlobBytes(): Promise<number> {
    return SQLITE_MAX_BLOB;
  }

  /** For operators and fault tests: a PRAGMA on the live connection (e.g. `query_only = ON`). */
  pragma(statement: string): unknown {
    return this.db.pragma(statement);
  }

  async close(): Promise<void> {
    await this.lock;
    if (this.db.open) this.db.close();
  }
}
