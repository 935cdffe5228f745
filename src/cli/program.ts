/**
 * Builds the commander program. Each command lives in its own module and registers itself; only
 * the module of the command being run is imported (with its drivers: SQLite, MySQL, winston, the
 * PKI libraries), so `securechat --help` and `securechat status` start in a few tens of ms.
 */
import { Command, CommanderError } from 'commander';
import { guardStdioPipes } from './run.js';
import { packageVersion } from './version.js';

type Register = (program: Command) => void;

interface CommandEntry {
  name: string;
  /** The one line `securechat --help` shows; the module's own description is shown by `CMD --help`. */
  summary: string;
  load: () => Promise<Register>;
}

const COMMANDS: CommandEntry[] = [
  { name: 'ca', summary: 'certificate authority: init, issue, revoke, crl, list, inspect, export-p12, verify', load: async () => (await import('./ca.js')).registerCa },
  { name: 'serve', summary: 'run the chat server (generates certificates on first run)', load: async () => (await import('./serve.js')).registerServe },
  { name: 'chat', summary: 'chat: interactive on a terminal, line-by-line commands from stdin otherwise', load: async () => (await import('./chat.js')).registerChat },
  { name: 'user', summary: 'manage accounts: list, show, disable, enable, reset-password', load: async () => (await import('./user.js')).registerUser },
  { name: 'db', summary: 'database schema: migrate, status', load: async () => (await import('./db.js')).registerDb },
  { name: 'status', summary: "a running server's health and metrics (its admin listener)", load: async () => (await import('./status.js')).registerStatus },
];

/** The command argv names (`securechat help serve` names serve too), or undefined for none. */
export function requestedCommand(args: readonly string[]): string | undefined {
  const operands = args.filter((a) => !a.startsWith('-'));
  return operands[0] === 'help' ? operands[1] : operands[0];
}

/**
 * The program with every command fully registered (`argv` omitted: tests, docs), or only the one
 * `argv` runs: the others are registered as one-line stubs so that `--help` still lists them.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('securechat')
    .description('SecureChat: a chat server and client with its own PKI.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ securechat serve                                    # start the server (creates certs/ on first run)
  $ securechat chat --certs certs --user alice --register
  $ securechat ca issue client carol --dir certs
  $ securechat <command> --help                         # every command has examples`,
    );
  const wanted = argv ? requestedCommand(argv.slice(2)) : undefined;
  for (const entry of COMMANDS) {
    if (!argv || entry.name === wanted) (await entry.load())(program);
    else program.command(entry.name).description(entry.summary);
    program.commands.at(-1)?.summary(entry.summary);
  }
  applyExitOverride(program);
  return program;
}

/** Commander signals help/version and usage errors by throwing (exitOverride): map them to 0 / 2. */
function applyExitOverride(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) applyExitOverride(sub);
}

export async function main(argv: string[]): Promise<void> {
  guardStdioPipes();
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exitCode = ok ? 0 : 2;
      return;
    }
    throw err;
  }
}
