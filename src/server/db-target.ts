/**
 * The database a server or an operator command opens, as the operator names it (issue 9 §4):
 * the password may come from a file (`--db-password-file` / SECURECHAT_DB_PASSWORD_FILE) instead
 * of the URL, so it never shows in `ps` or shell history; a password written into the URL must be
 * percent-encoded (a base64 password's `/` and `+` work as %2F and %2B); and a database that
 * cannot be opened is reported with its host, port, database and user — never the password.
 */
import { SecureChatError } from '../errors.js';
import { readSecretFile } from '../pki/files.js';
import { openStorage, parseDbUrl, type OpenStorageOptions } from '../storage/index.js';
import type { SqlStorage } from '../storage/index.js';

/** Puts the password from `passwordFile` into a mysql:// URL (percent-encoded); no file = the URL as is. */
export function withDbPassword(url: string, passwordFile: string | undefined): string {
  if (!passwordFile) return url;
  if (!url.startsWith('mysql://')) {
    throw new SecureChatError('usage', '--db-password-file (SECURECHAT_DB_PASSWORD_FILE) applies to mysql:// databases only.');
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SecureChatError('usage', 'Malformed MySQL URL; expected mysql://user@host:port/db (percent-encode special characters).');
  }
  if (u.password) {
    throw new SecureChatError('usage', 'The database password is given twice: in the --db URL and in --db-password-file; keep only the file.');
  }
  const password = readSecretFile(passwordFile, 'database password file');
  // encodeURIComponent, not the URL setter: the setter leaves '%' alone, which would decode wrongly.
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** "MySQL database chat on db.internal:3306 as user chat" / "SQLite database data/securechat.db". */
export function describeDb(url: string): string {
  const parsed = parseDbUrl(url);
  if (parsed.kind === 'sqlite') return `SQLite database ${parsed.path}`;
  const u = new URL(parsed.url);
  const user = decodeURIComponent(u.username) || 'root';
  return `MySQL database ${parsed.database} on ${u.hostname}:${u.port || '3306'} as user ${user}`;
}

/** The cause's own words (mysql2 and SQLite messages name no password), else the error's message. */
function causeMessage(err: SecureChatError): string {
  const cause = err.cause as { message?: unknown } | undefined;
  return typeof cause?.message === 'string' && cause.message ? cause.message : err.message;
}

/** openStorage, with failures that say which database and which user could not be opened. */
export async function openNamedStorage(url: string, options: OpenStorageOptions = {}): Promise<SqlStorage> {
  try {
    return await openStorage(url, options);
  } catch (err) {
    if (!(err instanceof SecureChatError) || err.code === 'usage' || err.code === 'schema_too_new') throw err;
    throw new SecureChatError(err.code, `Cannot open the ${describeDb(url)}: ${causeMessage(err)}`, {
      ...(err.reason !== undefined ? { reason: err.reason } : {}),
      ...(err.details !== undefined ? { details: err.details } : {}),
      cause: err,
    });
  }
}
