/**
 * `securechat user list|show|disable|enable|reset-password`: the operator's view of accounts.
 * All logic lives in AccountService; passwords come from --password-file or SECURECHAT_PASSWORD,
 * never from a flag value (which would end up in shell history and `ps`).
 */
import type { Command } from 'commander';
import { SecureChatError } from '../errors.js';
import { readSecretFile } from '../pki/files.js';
import { AccountService, type Account } from '../server/accounts.js';
import { openNamedStorage } from '../server/db-target.js';
import { formatTable } from './ca-list.js';
import { emit, example } from './ca-options.js';
import { addDbOptions, resolveDbUrl, type DbOptions } from './db.js';
import { action } from './run.js';

interface ResetOptions extends DbOptions {
  passwordFile?: string;
}

async function withAccounts<T>(opts: DbOptions, fn: (accounts: AccountService) => Promise<T>): Promise<T> {
  const storage = await openNamedStorage(resolveDbUrl(opts.db, process.env, opts.dbPasswordFile));
  try {
    return await fn(new AccountService({ storage }));
  } finally {
    await storage.close();
  }
}

const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 19) + 'Z';

function accountRow(a: Account): string[] {
  return [a.username, a.uuid, a.disabled ? 'disabled' : 'active', iso(a.createdAt)];
}

function readNewPassword(opts: ResetOptions): string {
  if (opts.passwordFile) return readSecretFile(opts.passwordFile, 'password file');
  const fromEnv = process.env.SECURECHAT_PASSWORD;
  if (fromEnv) return fromEnv;
  throw new SecureChatError('usage', 'Give the new password with --password-file FILE or the SECURECHAT_PASSWORD environment variable.');
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage accounts: list, show, disable, enable, reset-password');
  example(user, 'securechat user list', 'securechat user disable mallory --db mysql://chat@db:3306/securechat --db-password-file db.pass');

  const list = addDbOptions(user.command('list').description('list all accounts'));
  example(list, 'securechat user list', 'securechat user list --db mysql://chat@db:3306/securechat --db-password-file db.pass --json');
  list.action(
    action(async (opts: DbOptions) => {
      const accounts = await withAccounts(opts, (a) => a.listAccounts());
      const human = accounts.length ? formatTable([['USERNAME', 'UUID', 'STATUS', 'CREATED'], ...accounts.map(accountRow)]) : 'No accounts yet.';
      emit(opts.json, { users: accounts }, human);
    }),
  );

  const show = addDbOptions(user.command('show').argument('<name>', 'username').description('show one account and its certificates'));
  example(show, 'securechat user show alice');
  show.action(
    action(async (name: string, opts: DbOptions) => {
      const acc = await withAccounts(opts, (a) => a.getAccount(name));
      const certs = acc.certificates.map((c) => `  ${c.fingerprint}  first ${iso(c.firstSeen)}  last ${iso(c.lastSeen)}`);
      const human = [
        `username:  ${acc.username}`,
        `uuid:      ${acc.uuid}`,
        `status:    ${acc.disabled ? 'disabled' : 'active'}`,
        `created:   ${iso(acc.createdAt)}`,
        `certificates (sha256):${certs.length ? '' : ' none'}`,
        ...certs,
      ].join('\n');
      emit(opts.json, { user: acc }, human);
    }),
  );

  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    const cmd = addDbOptions(
      user.command(verb).argument('<name>', 'username').description(disabled ? 'refuse all logins of an account' : 'allow logins again'),
    );
    example(cmd, `securechat user ${verb} alice`);
    cmd.action(
      action(async (name: string, opts: DbOptions) => {
        const acc = await withAccounts(opts, (a) => a.setDisabled(name, disabled));
        emit(opts.json, { user: acc }, `${acc.username} is now ${disabled ? 'disabled' : 'enabled'}.`);
      }),
    );
  }

  const reset = addDbOptions(
    user
      .command('reset-password')
      .argument('<name>', 'username')
      .description('set a new password (read from --password-file or SECURECHAT_PASSWORD)')
      .option('--password-file <file>', 'file whose first line is the new password'),
  );
  example(reset, 'securechat user reset-password alice --password-file new.pass', 'SECURECHAT_PASSWORD=… securechat user reset-password alice');
  reset.action(
    action(async (name: string, opts: ResetOptions) => {
      const password = readNewPassword(opts);
      await withAccounts(opts, (a) => a.resetPassword(name, password));
      emit(opts.json, { username: name }, `Password of ${name} reset.`);
    }),
  );
}
