/**
 * The small SQL seam between the shared storage logic (sql-storage.ts) and a concrete driver. Both
 * drivers use `?` placeholders and return plain rows; every rejection is already a SecureChatError
 * (see errors.ts).
 */
export type Dialect = 'sqlite' | 'mysql';
export type SqlValue = string | number | bigint | Buffer | null;

export interface RunResult {
  insertId: number;
  affectedRows: number;
}

export interface SqlExecutor {
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  /**
   * MySQL transactions: the distance between the AUTO_INCREMENT ids one multi-row INSERT gives its
   * rows when the server guarantees they are evenly spaced from `insertId` (the first row's id):
   * `auto_increment_increment` under `innodb_autoinc_lock_mode` 0 or 1 (MariaDB's default). Null
   * under 2 ("interleaved": MySQL 8+'s default, and Galera's requirement): the caller reads the ids
   * back. (SQLite, the only writer of its file, gives a statement consecutive rowids ending at
   * `insertId`.)
   */
  readonly insertIdStep?: number | null;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in one transaction on one connection; commits when it resolves, rolls back when it
   * rejects. SQLite takes the write lock up front (BEGIN IMMEDIATE); MySQL callers lock the rows
   * they depend on with `forUpdate`.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * `transaction` for the message group-commit writer. MySQL runs it on a connection of its own,
   * so message batches never wait for a pool slot behind reads and reads never wait behind them.
   */
  writerTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** ' FOR UPDATE' on MySQL, '' on SQLite (whose transactions already hold the write lock). */
  readonly forUpdate: string;
  /** Largest BLOB the backend accepts in one statement. */
  maxBlobBytes(): Promise<number>;
  close(): Promise<void>;
}
