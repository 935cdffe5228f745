/**
 * Opens a Storage from a URL:
 *   sqlite:PATH            (default `sqlite:data/securechat.db`; `sqlite:PATH?mode=ro` opens read-only)
 *   mysql://user:pass@host:port/db
 * Migrations are applied at open unless `migrate: false`, in which case an out-of-date or newer
 * schema is refused. The caller resolves SECURECHAT_DB / --db; this module reads no environment.
 */
import { SecureChatError } from '../errors.js';
import type { SqlDriver } from './driver.js';
import { assertSchemaCurrent, migrate } from './migrations/index.js';
import { MysqlDriver } from './mysql/driver.js';
import { SqliteDriver } from './sqlite/driver.js';
import { SqlStorage } from './sql-storage.js';
import type { OpenStorageOptions } from './types.js';

export type { Storage, OpenStorageOptions } from './types.js';
export { SqlStorage } from './sql-storage.js';

export const DEFAULT_DB_URL = 'sqlite:data/securechat.db';
const DEFAULT_SQLITE_PATH = 'data/securechat.db';

export type ParsedDbUrl =
  | { kind: 'sqlite'; path: string; readonly: boolean }
  | { kind: 'mysql'; url: string; database: string };

export function parseDbUrl(url: string): ParsedDbUrl {
  if (url === 'sqlite' || url.startsWith('sqlite:')) {
    const rest = url.slice('sqlite:'.length);
    const [path, query = ''] = rest.split('?', 2);
    const params = new URLSearchParams(query);
    const mode = params.get('mode');
    if (mode !== null && mode !== 'ro' && mode !== 'rw') {
      throw new SecureChatError('usage', `Unknown sqlite mode '${mode}'; use mode=ro or mode=rw.`);
    }
    return { kind: 'sqlite', path: path || DEFAULT_SQLITE_PATH, readonly: mode === 'ro' };
  }
  if (url.startsWith('mysql://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new SecureChatError('usage', 'Malformed MySQL URL; expected mysql://user:pass@host:port/db.');
    }
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    if (!parsed.hostname || !database) {
      throw new SecureChatError('usage', 'The MySQL URL needs a host and a database: mysql://user:pass@host:port/db.');
    }
    return { kind: 'mysql', url, database };
  }
  throw new SecureChatError('usage', `Unsupported database URL; use sqlite:PATH or mysql://user:pass@host:port/db.`);
}

/** The URL with its password masked, for logs and messages. */
export function redactDbUrl(url: string): string {
  return url.replace(/^(mysql:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

function openDriver(parsed: ParsedDbUrl, options: OpenStorageOptions): SqlDriver {
  if (parsed.kind === 'sqlite') return new SqliteDriver(parsed.path, { readonly: parsed.readonly });
  return new MysqlDriver(parsed.url, {
    queryTimeoutMs: options.queryTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    poolSize: options.poolSize,
  });
}

/** Opens (and by default migrates) the database; the driver is closed again if that fails. */
export async function openStorage(url: string = DEFAULT_DB_URL, options: OpenStorageOptions = {}): Promise<SqlStorage> {
  const parsed = parseDbUrl(url);
  const driver = openDriver(parsed, options);
  try {
    // A read-only database cannot be migrated; it must already be current.
    const readonly = parsed.kind === 'sqlite' && parsed.readonly;
    if (options.migrate === false || readonly) await assertSchemaCurrent(driver);
    else await migrate(driver);
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw err;
  }
  const storage = new SqlStorage(driver, { maxBatch: options.maxBatch });
  options.log?.debug('storage opened', { backend: driver.dialect, db: redactDbUrl(url) });
  return storage;
}

/** Opens just the driver (no migration), for `securechat db migrate|status`. */
export function openDriverForAdmin(url: string, options: OpenStorageOptions = {}): SqlDriver {
  return openDriver(parseDbUrl(url), options);
}
