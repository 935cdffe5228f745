/** Builds the commander program; each command lives in its own module and registers itself. */
import { Command, CommanderError } from 'commander';
import { registerCa } from './ca.js';
import { registerChat } from './chat.js';
import { registerDb } from './db.js';
import { registerServe } from './serve.js';
import { registerUser } from './user.js';

export function buildProgram(): Command {
  const program = new Command('securechat')
    .description('SecureChat: a chat server and client with its own PKI.')
    .version('0.1.0')
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
  registerCa(program);
  registerServe(program);
  registerChat(program);
  registerUser(program);
  registerDb(program);
  applyExitOverride(program);
  return program;
}

/** Commander signals help/version and usage errors by throwing (exitOverride): map them to 0 / 2. */
function applyExitOverride(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) applyExitOverride(sub);
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
