/**
 * `securechat chat`: connects, logs in (or registers), then runs the interactive REPL on a
 * terminal or script mode otherwise. Parsing and printing only; the work is in src/client/.
 */
import { Command, Option } from 'commander';
import { SecureChatError } from '../errors.js';
import { ChatClient, resolveClientFiles } from '../client/chat-client.js';
import { colorEnabled } from '../client/format.js';
import { promptHidden } from '../client/prompt.js';
import { runRepl } from '../client/repl.js';
import { runScript } from '../client/script.js';
import { readSecretFile } from '../pki/files.js';
import { action } from './run.js';

interface ChatFlags {
  host: string;
  port: string;
  serverName?: string;
  ca?: string;
  cert?: string;
  key?: string;
  keyPassphraseFile?: string;
  certs?: string;
  user?: string;
  register?: boolean;
  passwordFile?: string;
  downloadDir: string;
  json?: boolean;
  listen?: boolean;
  color: boolean;
  maxChainDepth?: string;
}

const EXAMPLES = `
Examples:
  # interactive, with the certificates made by \`npm start\` / generate-certs
  securechat chat --certs certs --user alice --register      # first time
  securechat chat --certs certs --user alice

  # scripted: commands on stdin, one JSON object per line out
  printf '/msg bob hi\\n/g team hello\\n/send bob ./report.pdf\\n' | \\
    SECURECHAT_PASSWORD=... securechat chat --certs certs --user alice --json

  # stay connected and print what arrives (files saved to ./downloads)
  securechat chat --certs certs --user bob --password-file bob.pw --listen --json < /dev/null

The password comes from --password-file, SECURECHAT_PASSWORD, or a hidden prompt on a terminal.
Exit codes: 0 ok, 1 a command or the connection failed, 2 bad arguments.
`;

export function registerChat(program: Command): void {
  program
    .command('chat')
    .description('Chat: interactive on a terminal, line-by-line commands from stdin otherwise.')
    .option('--host <host>', 'server host', '127.0.0.1')
    .option('--port <port>', 'server port', '5000')
    .option('--server-name <name>', 'name the server certificate must carry (default: --host)')
    .option('--ca <file>', 'trusted root certificate (PEM)')
    .option('--cert <file>', 'your certificate chain (PEM)')
    .option('--key <file>', 'your private key (PEM)')
    .option('--key-passphrase-file <file>', 'passphrase of an encrypted key')
    .option('--certs <dir>', 'shorthand directory: DIR/root_ca.pem, DIR/USER_cert.pem, DIR/USER_key.pem (with --user)')
    .option('--user <name>', 'your username (with --certs)')
    .option('--register', 'create the account (first time), then stay logged in')
    .option('--password-file <file>', 'read the password from this file (first line)')
    .option('--download-dir <dir>', 'where received files are saved', 'downloads')
    .option('--max-chain-depth <n>', 'most intermediate CAs accepted in the server certificate chain (default 6)')
    .option('--json', 'script mode: one JSON object per line for every event and result')
    .option('--listen', 'script mode: stay connected after end of input until SIGINT/SIGTERM')
    .addOption(new Option('--no-color', 'no ANSI colours (also when NO_COLOR is set)'))
    .addHelpText('after', EXAMPLES)
    .action(action(runChat));
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new SecureChatError('usage', `--port must be 1..65535, got "${value}".`);
  return port;
}

async function readPassword(flags: ChatFlags): Promise<string> {
  if (flags.passwordFile) return readSecretFile(flags.passwordFile, 'password file');
  const env = process.env.SECURECHAT_PASSWORD;
  if (env) return env;
  if (!process.stdin.isTTY) {
    throw new SecureChatError('usage', 'No password: pass --password-file FILE or set SECURECHAT_PASSWORD (stdin is not a terminal).');
  }
  const password = await promptHidden('Password: ');
  if (flags.register && (await promptHidden('Password again: ')) !== password) {
    throw new SecureChatError('usage', 'The passwords differ.');
  }
  return password;
}

/** The lines issue 5 asks for, so a refused handshake reads the same everywhere. */
function connectionFailure(err: SecureChatError): SecureChatError {
  if (err.code !== 'bad_certificate') return err;
  const fromServer = err.details?.fromPeer === true;
  const reason = err.reason ?? 'unknown';
  const text = fromServer
    ? `[Client] Server rejected certificate – closing connection (${reason})`
    : `[Client] Refusing server certificate (${reason}): ${err.message}`;
  return new SecureChatError('bad_certificate', text, { reason, ...(err.details ? { details: err.details } : {}) });
}

async function runChat(flags: ChatFlags): Promise<void> {
  const port = parsePort(flags.port);
  const { maxChainDepth, ...fileFlags } = flags;
  if (maxChainDepth !== undefined && !/^\d{1,3}$/.test(maxChainDepth)) throw new SecureChatError('usage', `--max-chain-depth "${maxChainDepth}" is not a whole number.`);
  const files = resolveClientFiles({
    ...fileFlags,
    ...(maxChainDepth !== undefined ? { maxChainDepth: Number(maxChainDepth) } : {}),
    ...(flags.keyPassphraseFile ? { keyPassphrase: readSecretFile(flags.keyPassphraseFile) } : {}),
  });
  const interactive = Boolean(process.stdin.isTTY) && !flags.json;
  const password = await readPassword(flags);
  const serverName = flags.serverName ?? flags.host;

  let chat: ChatClient;
  try {
    chat = await ChatClient.open({ host: flags.host, port, serverName, ...files, autoFetchFiles: flags.downloadDir });
  } catch (err) {
    if (err instanceof SecureChatError) {
      const e = connectionFailure(err);
      if (e.code === 'bad_certificate' && !flags.json) {
        process.stderr.write(`${e.message}\n`);
        process.exitCode = 1;
        return;
      }
      throw e;
    }
    throw err;
  }

  try {
    if (flags.register) await chat.register(password, flags.user);
    else await chat.login(password, flags.user);
  } catch (err) {
    chat.close();
    throw err;
  }

  if (interactive) {
    process.exitCode = await runRepl({ chat, color: colorEnabled(process.stdout, process.env, flags.color) });
    return;
  }
  // Only --listen traps the signals: without it, Ctrl-C keeps its default meaning.
  const stop = flags.listen
    ? new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      })
    : undefined;
  if (flags.json) process.stdout.write(JSON.stringify({ event: 'ready', user: chat.user?.username, uuid: chat.user?.uuid }) + '\n');
  process.exitCode = await runScript({ chat, input: process.stdin, out: process.stdout, err: process.stderr, json: Boolean(flags.json), listen: Boolean(flags.listen), ...(stop ? { stop } : {}) });
}
