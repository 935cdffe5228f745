/**
 * Maps driver errors (better-sqlite3, mysql2, node sockets) onto the error catalogue, in one place,
 * so that every backend reports the same codes: the database being unreachable, read-only, full or
 * timing out is `storage_unavailable` (nothing was stored, retrying later may work); uniqueness
 * conflicts are `exists`; a reference to a missing row is `not_found`.
 */
import { SecureChatError } from '../errors.js';

const UNAVAILABLE_CODES = new Set([
  // node sockets / mysql2 client
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT', 'POOL_CLOSED', 'POOL_ENQUEUE_LIMIT',
  // MySQL / MariaDB server
  'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'ER_TOO_MANY_USER_CONNECTIONS', 'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED', 'ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK', 'ER_OPTION_PREVENTS_STATEMENT',
  'ER_READ_ONLY_MODE', 'ER_CANT_LOCK', 'ER_RECORD_FILE_FULL', 'ER_DISK_FULL', 'ER_OUT_OF_RESOURCES',
  'ER_NET_READ_INTERRUPTED', 'ER_NET_WRITE_INTERRUPTED', 'ER_STATEMENT_TIMEOUT', 'ER_ACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_NET_PACKET_TOO_LARGE',
]);
// MariaDB error numbers mysql2 has no symbolic name for (1927 = connection killed).
const UNAVAILABLE_ERRNOS = new Set([1053, 1205, 1213, 1290, 1317, 1836, 1927, 2006, 2013]);

const SQLITE_UNAVAILABLE = /^SQLITE_(READONLY|BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOTADB|CORRUPT|PROTOCOL|NOLFS|AUTH|PERM)/;

interface DriverError {
  code?: unknown;
  errno?: unknown;
  fatal?: unknown;
  message?: unknown;
}

/** True when the error means the database could not be reached or written (vs. a bad request). */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof SecureChatError) return err.code === 'storage_unavailable';
  const e = (err ?? {}) as DriverError;
  const code = typeof e.code === 'string' ? e.code : '';
  if (UNAVAILABLE_CODES.has(code) || SQLITE_UNAVAILABLE.test(code)) return true;
  if (typeof e.errno === 'number' && UNAVAILABLE_ERRNOS.has(e.errno)) return true;
  if (e.fatal === true) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  // better-sqlite3 after close(); mysql2 on a connection that already died; mysql2's pool queue
  // (queueLimit) overflowing, which it reports with no code at all.
  return /database connection is not open|connection is in closed state|Pool is closed|connect ETIMEDOUT|Queue limit reached/i.test(message);
}

function isUniqueViolation(code: string): boolean {
  return code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

function isMissingReference(code: string): boolean {
  return code === 'ER_NO_REFERENCED_ROW_2' || code === 'ER_NO_REFERENCED_ROW' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** Converts anything a driver throws into a SecureChatError (SecureChatErrors pass through). */
export function toStorageError(err: unknown): SecureChatError {
  if (err instanceof SecureChatError) return err;
  const e = (err ?? {}) as DriverError;
  const code = typeof e.code === 'string' ? e.code : '';
  if (isUniqueViolation(code)) return new SecureChatError('exists', undefined, { cause: err });
  if (isMissingReference(code)) return new SecureChatError('not_found', undefined, { cause: err });
  if (isUnavailable(err)) {
    return new SecureChatError('storage_unavailable', undefined, { reason: code || undefined, cause: err });
  }
  return new SecureChatError('internal', undefined, { cause: err });
}
