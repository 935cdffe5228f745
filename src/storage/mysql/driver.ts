/**
 * mysql2/promise pool behind the SqlDriver seam. Every statement carries a timeout; connections
 * that failed fatally are destroyed rather than returned to the pool, so one killed connection
 * cannot poison later requests; the pool opens new connections on demand once the server is back.
 * Idempotent reads are retried once on a fresh connection when the first one turned out dead;
 * writes are never retried here (the caller gets storage_unavailable and nothing is acknowledged).
 */
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { SecureChatError } from '../../errors.js';
import { isUnavailable, toStorageError } from '../errors.js';
import type { RunResult, SqlDriver, SqlExecutor, SqlValue } from '../driver.js';

export interface MysqlDriverOptions {
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
  poolSize?: number;
}

// Headroom under max_allowed_packet for the statement and protocol framing around a BLOB.
const PACKET_OVERHEAD = 64 * 1024;
/** Tries per transaction when InnoDB picks it as a deadlock victim (each rolled back in full). */
const DEADLOCK_ATTEMPTS = 5;

type Queryable = Pick<PoolConnection, 'query' | 'execute'>;

function isBlobParam(params: readonly SqlValue[]): boolean {
  // Buffers go through the binary protocol (execute) so they travel raw, not as 2x hex text.
  return params.some((p) => Buffer.isBuffer(p));
}

async function rawAll<T>(conn: Queryable, sql: string, params: readonly SqlValue[], timeout: number): Promise<T[]> {
  const [rows] = await conn.query({ sql, timeout }, params as SqlValue[]);
  return rows as T[];
}

async function rawRun(conn: Queryable, sql: string, params: readonly SqlValue[], timeout: number): Promise<RunResult> {
  const [res] = isBlobParam(params)
    ? await conn.execute({ sql, timeout }, params as SqlValue[])
    : await conn.query({ sql, timeout }, params as SqlValue[]);
  const header = res as ResultSetHeader;
  return { insertId: Number(header.insertId), affectedRows: header.affectedRows };
}

export class MysqlDriver implements SqlDriver {
  readonly dialect = 'mysql' as const;
  readonly forUpdate = ' FOR UPDATE';
  private readonly pool: Pool;
  /** One connection for the message writer (see SqlDriver.writerTransaction). */
  private readonly writerPool: Pool;
  private readonly timeout: number;
  private closed = false;
  /** insertIdStep per live connection (keyed by mysql2's core connection, which outlives its wrappers). */
  private readonly insertIdSteps = new WeakMap<object, number | null>();

  constructor(url: string, options: MysqlDriverOptions = {}) {
    const u = new URL(url);
    this.timeout = options.queryTimeoutMs ?? 10_000;
    const poolOptions = {
      host: u.hostname || '127.0.0.1',
      port: u.port ? Number(u.port) : 3306,
      user: decodeURIComponent(u.username) || 'root',
      password: decodeURIComponent(u.password),
      database: decodeURIComponent(u.pathname.replace(/^\//, '')),
      charset: 'utf8mb4',
      connectTimeout: options.connectTimeoutMs ?? 5000,
      connectionLimit: options.poolSize ?? 10,
      waitForConnections: true,
      // A bounded queue: when the DB is gone, callers fail fast instead of piling up.
      queueLimit: 1000,
      enableKeepAlive: true,
      supportBigNumbers: true,
      bigNumberStrings: false,
      // Idle connections are dropped so a server restart leaves few dead ones behind.
      maxIdle: 2,
      idleTimeout: 30_000,
    };
    this.pool = mysql.createPool(poolOptions);
    // The writer's batches are serial (MessageWriter), so one connection is all it ever uses.
    this.writerPool = mysql.createPool({ ...poolOptions, connectionLimit: 1, maxIdle: 1 });
    // A pool-level error must never crash the process; the next query reports it.
    for (const p of [this.pool, this.writerPool]) (p as unknown as { on(e: string, f: () => void): void }).on('error', () => undefined);
  }

  /** Gets a connection and drops it (instead of releasing) when it failed fatally. */
  private async withConnection<T>(fn: (conn: PoolConnection) => Promise<T>, pool: Pool = this.pool): Promise<T> {
    const conn = await pool.getConnection();
    try {
      const result = await fn(conn);
      conn.release();
      return result;
    } catch (err) {
      if (isUnavailable(err)) conn.destroy();
      else conn.release();
      throw err;
    }
  }

  async all<T = Record<string, unknown>>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    try {
      return await this.withConnection((c) => rawAll<T>(c, sql, params, this.timeout));
    } catch (err) {
      if (this.closed || !isUnavailable(err)) throw toStorageError(err);
      try {
        return await this.withConnection((c) => rawAll<T>(c, sql, params, this.timeout));
      } catch (err2) {
        throw toStorageError(err2);
      }
    }
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    try {
      return await this.withConnection((c) => rawRun(c, sql, params, this.timeout));
    } catch (err) {
      throw toStorageError(err);
    }
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.transactionOn(this.pool, fn);
  }

  writerTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.transactionOn(this.writerPool, fn);
  }

  private async transactionOn<T>(pool: Pool, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    // InnoDB resolves a deadlock by rolling one transaction back whole and asks for a restart:
    // concurrent inserts into the same index gap (e.g. registrations) hit this routinely.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transactionOnce(pool, fn);
      } catch (err) {
        const deadlock = err instanceof SecureChatError && err.reason === 'ER_LOCK_DEADLOCK';
        if (!deadlock || attempt >= DEADLOCK_ATTEMPTS || this.closed) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
      }
    }
  }

  /**
   * See SqlExecutor.insertIdStep. Asked once per connection: the lock mode is fixed at server start
   * and a session's auto_increment_increment is copied from the global one when it connects (and
   * nothing here SETs it), so neither changes under an open connection.
   */
  private async insertIdStepOf(conn: PoolConnection): Promise<number | null> {
    const core = (conn as unknown as { connection: object }).connection;
    let step = this.insertIdSteps.get(core);
    if (step === undefined) {
      const rows = await rawAll<{ mode: unknown; inc: unknown }>(
        conn,
        'SELECT @@GLOBAL.innodb_autoinc_lock_mode AS mode, @@SESSION.auto_increment_increment AS inc',
        [],
        this.timeout,
      );
      const mode = Number(rows[0]?.mode);
      const inc = Number(rows[0]?.inc);
      step = (mode === 0 || mode === 1) && Number.isInteger(inc) && inc >= 1 ? inc : null;
      this.insertIdSteps.set(core, step);
    }
    return step;
  }

  private async transactionOnce<T>(pool: Pool, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    try {
      return await this.withConnection(async (conn) => {
        const tx: SqlExecutor = {
          all: <R>(sql: string, params: readonly SqlValue[] = []) => rawAll<R>(conn, sql, params, this.timeout),
          run: (sql: string, params: readonly SqlValue[] = []) => rawRun(conn, sql, params, this.timeout),
          insertIdStep: await this.insertIdStepOf(conn),
        };
        await conn.query({ sql: 'START TRANSACTION', timeout: this.timeout });
        try {
          const result = await fn(tx);
          await conn.query({ sql: 'COMMIT', timeout: this.timeout });
          return result;
        } catch (err) {
          if (!isUnavailable(err)) {
            await conn.query({ sql: 'ROLLBACK', timeout: this.timeout });
          }
          // On a dead connection the server rolls back by itself; withConnection destroys it.
          throw err;
        }
      }, pool);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  async maxBlobBytes(): Promise<number> {
    const rows = await this.all<{ p: number }>('SELECT @@max_allowed_packet AS p');
    return Math.max(0, Number(rows[0]?.p ?? 0) - PACKET_OVERHEAD);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.pool.end(), this.writerPool.end()]);
  }
}
