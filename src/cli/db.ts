/** `securechat db migrate|status`: applies or reports the versioned schema migrations. */
import type { Command } from 'commander';
import { DEFAULT_DB_URL, openDriverForAdmin, redactDbUrl } from '../storage/index.js';
import { LATEST_SCHEMA_VERSION, migrate, migrationStatus } from '../storage/migrations/index.js';
import { emit, example } from './ca-options.js';
import { action } from './run.js';

export interface DbOptions {
  db?: string;
  json?: boolean;
}

/** --db, else SECURECHAT_DB, else the SQLite default: the same order as `securechat serve`. */
export function resolveDbUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.SECURECHAT_DB || DEFAULT_DB_URL;
}

export function addDbOptions(cmd: Command): Command {
  return cmd
    .option('--db <url>', `sqlite:PATH or mysql://user:pass@host:port/db (default ${DEFAULT_DB_URL}; env SECURECHAT_DB)`)
    .option('--json', 'print one JSON document instead of text');
}

export function registerDb(program: Command): void {
  const db = program.command('db').description('database schema: migrate, status');
  example(db, 'securechat db status', 'securechat db migrate --db mysql://chat:secret@127.0.0.1:3306/securechat');

  const migrateCmd = addDbOptions(db.command('migrate').description('apply pending schema migrations (idempotent)'));
  example(migrateCmd, 'securechat db migrate', 'securechat db migrate --db mysql://chat:secret@127.0.0.1:3306/securechat');
  migrateCmd.action(
    action(async (opts: DbOptions) => {
      const url = resolveDbUrl(opts.db);
      const driver = openDriverForAdmin(url);
      try {
        const applied = await migrate(driver);
        const human = applied.length
          ? `Applied migration${applied.length > 1 ? 's' : ''} ${applied.join(', ')} to ${redactDbUrl(url)}; schema is at version ${LATEST_SCHEMA_VERSION}.`
          : `${redactDbUrl(url)} is up to date (schema version ${LATEST_SCHEMA_VERSION}).`;
        emit(opts.json, { applied, schemaVersion: LATEST_SCHEMA_VERSION }, human);
      } finally {
        await driver.close();
      }
    }),
  );

  const statusCmd = addDbOptions(db.command('status').description('show the schema version and pending migrations'));
  example(statusCmd, 'securechat db status --json');
  statusCmd.action(
    action(async (opts: DbOptions) => {
      const url = resolveDbUrl(opts.db);
      const driver = openDriverForAdmin(url);
      try {
        const status = await migrationStatus(driver);
        const state =
          status.current > status.latest
            ? 'NEWER than this SecureChat: upgrade SecureChat'
            : status.pending.length
              ? `pending: ${status.pending.join(', ')} (run \`securechat db migrate\`)`
              : 'up to date';
        emit(opts.json, { ...status }, `${redactDbUrl(url)} (${driver.dialect}): schema version ${status.current} of ${status.latest}, ${state}.`);
      } finally {
        await driver.close();
      }
    }),
  );
}
