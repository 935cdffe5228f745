/** `securechat db migrate|status`: applies or reports the versioned schema migrations. */
import type { Command } from 'commander';
import { SecureChatError } from '../errors.js';
import { describeDb, withDbPassword } from '../server/db-target.js';
import { DEFAULT_DB_URL, openDriverForAdmin, redactDbUrl } from '../storage/index.js';
import { LATEST_SCHEMA_VERSION, migrate, migrationStatus } from '../storage/migrations/index.js';
import { emit, example } from './ca-options.js';
import { action } from './run.js';

export interface DbOptions {
  db?: string;
  dbPasswordFile?: string;
  json?: boolean;
}

/**
 * --db, else SECURECHAT_DB, else the SQLite default: the same order as `securechat serve`; the
 * MySQL password from --db-password-file, else SECURECHAT_DB_PASSWORD_FILE.
 */
export function resolveDbUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, passwordFile?: string): string {
  return withDbPassword(flag || env.SECURECHAT_DB || DEFAULT_DB_URL, passwordFile || env.SECURECHAT_DB_PASSWORD_FILE || undefined);
}

export const DB_PASSWORD_FILE_HELP = 'file whose first line is the MySQL password (env SECURECHAT_DB_PASSWORD_FILE); keeps it out of ps and shell history';

export function addDbOptions(cmd: Command): Command {
  return cmd
    .option('--db <url>', `sqlite:PATH or mysql://user@host:port/db (default ${DEFAULT_DB_URL}; env SECURECHAT_DB)`)
    .option('--db-password-file <file>', DB_PASSWORD_FILE_HELP)
    .option('--json', 'print one JSON document instead of text');
}

/** Runs an admin action on the driver; a database that cannot be reached is named (host, user), never its password. */
async function withAdminDriver<T>(url: string, fn: (driver: ReturnType<typeof openDriverForAdmin>) => Promise<T>): Promise<T> {
  const driver = openDriverForAdmin(url);
  try {
    return await fn(driver);
  } catch (err) {
    if (err instanceof SecureChatError && err.code === 'storage_unavailable') {
      const cause = (err.cause as { message?: string } | undefined)?.message ?? err.message;
      throw new SecureChatError('storage_unavailable', `Cannot open the ${describeDb(url)}: ${cause}`, { ...(err.reason ? { reason: err.reason } : {}), cause: err });
    }
    throw err;
  } finally {
    await driver.close();
  }
}

export function registerDb(program: Command): void {
  const db = program.command('db').description('database schema: migrate, status');
  example(db, 'securechat db status', 'securechat db migrate --db mysql://chat@127.0.0.1:3306/securechat --db-password-file /etc/securechat/db.pass');

  const migrateCmd = addDbOptions(db.command('migrate').description('apply pending schema migrations (idempotent)'));
  example(migrateCmd, 'securechat db migrate', 'securechat db migrate --db mysql://chat@127.0.0.1:3306/securechat --db-password-file /etc/securechat/db.pass');
  migrateCmd.action(
    action(async (opts: DbOptions) => {
      const url = resolveDbUrl(opts.db, process.env, opts.dbPasswordFile);
      await withAdminDriver(url, async (driver) => {
        const applied = await migrate(driver);
        const human = applied.length
          ? `Applied migration${applied.length > 1 ? 's' : ''} ${applied.join(', ')} to ${redactDbUrl(url)}; schema is at version ${LATEST_SCHEMA_VERSION}.`
          : `${redactDbUrl(url)} is up to date (schema version ${LATEST_SCHEMA_VERSION}).`;
        emit(opts.json, { applied, schemaVersion: LATEST_SCHEMA_VERSION }, human);
      });
    }),
  );

  const statusCmd = addDbOptions(db.command('status').description('show the schema version and pending migrations'));
  example(statusCmd, 'securechat db status --json');
  statusCmd.action(
    action(async (opts: DbOptions) => {
      const url = resolveDbUrl(opts.db, process.env, opts.dbPasswordFile);
      await withAdminDriver(url, async (driver) => {
        const status = await migrationStatus(driver);
        const state =
          status.current > status.latest
            ? 'NEWER than this SecureChat: upgrade SecureChat'
            : status.pending.length
              ? `pending: ${status.pending.join(', ')} (run \`securechat db migrate\`)`
              : 'up to date';
        emit(opts.json, { ...status }, `${redactDbUrl(url)} (${driver.dialect}): schema version ${status.current} of ${status.latest}, ${state}.`);
      });
    }),
  );
}
