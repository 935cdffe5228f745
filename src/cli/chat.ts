/**
 * `securechat chat`: connects, logs in (or registers), then runs the interactive REPL on a
 * terminal or script mode otherwise. Parsing and printing only; the work is in src/client/.
 *
 * With --json every line on stdout is one event object (`{"event": …}`), failures to connect or
 * log in included (`{"event":"error","phase":"connect"|"login",…}`); docs/CLIENT-EVENTS.md.
 */
import { Command, Option } from 'commander';
import { SecureChatError, toSecureChatError } from '../errors.js';
import { endpointName, parseServerList } from '../client/failover.js';
import { ChatClient, resolveClientFiles } from '../client/chat-client.js';
import { explainConnectError, explainLoginError } from '../client/first-contact.js';
import { colorEnabled } from '../client/format.js';
import { certificateName } from '../client/identity.js';
import { promptHidden, silenceTerminal, type SilencedTerminal } from '../client/prompt.js';
import { runRepl } from '../client/repl.js';
import { runScript } from '../client/script.js';
import { openTicketFile } from '../client/ticket-file.js';
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
  reconnect: boolean;
  ticketFile?: string;
}

/** Password attempts at the prompt before giving up (like ssh). */
const PROMPT_ATTEMPTS = 3;

const EXAMPLES = `
Examples:
  # interactive, with the certificates made by \`npm start\` / generate-certs
  securechat chat --certs certs --user alice --register      # first time
  securechat chat --certs certs --user alice
  #   then: /query bob  (or /q #team) and just type; /help for the rest

  # scripted: commands on stdin, one JSON event per line out (docs/CLIENT-EVENTS.md);
  # a command sent as {"command": …, "ref": …} gets its ref back on its result
  printf '%s\\n' '{"command":"/msg bob hi","ref":1}' '/g team hello' '/send bob ./report.pdf' | \\
    SECURECHAT_PASSWORD=... securechat chat --certs certs --user alice --json

  # print everything that arrived while you were away, then exit
  securechat chat --certs certs --user bob --password-file bob.pw --json < /dev/null

  # a script run every minute: resume the saved session instead of a full handshake + login
  securechat chat --certs certs --user bob --password-file bob.pw --ticket-file ~/.securechat-bob.tickets --json < /dev/null

  # stay connected and print what arrives (files saved to ./downloads)
  securechat chat --certs certs --user bob --password-file bob.pw --listen --json < /dev/null

The password comes from --password-file, SECURECHAT_PASSWORD, or a hidden prompt on a terminal
(asked up to ${PROMPT_ATTEMPTS} times). A dropped connection is re-established automatically (--no-reconnect to exit instead).
Exit codes: 0 ok, 1 a command or the connection failed, 2 bad arguments.
`;

export function registerChat(program: Command): void {
  program
    .command('chat')
    .description('Chat: interactive on a terminal, line-by-line commands from stdin otherwise.')
    .option('--host <host>', 'server host, or the nodes of a cluster: HOST[:PORT],HOST[:PORT],… (tries the next node when one is down; docs/CLUSTER.md)', '127.0.0.1')
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
    .option('--ticket-file <file>', 'keep session tickets in FILE (0600) so the next run resumes, logged in, without a full handshake; as secret as your key')
    .addOption(new Option('--no-color', 'no ANSI colours (also when NO_COLOR is set)'))
    .addOption(new Option('--no-reconnect', 'exit when the connection drops instead of reconnecting'))
    .addHelpText('after', EXAMPLES)
    .action(action(runChatCommand));
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new SecureChatError('usage', `--port must be 1..65535, got "${value}".`);
  return port;
}

/** Where the password comes from: a file or the environment (fixed), or the terminal (asked, re-asked). */
type PasswordSource = { kind: 'fixed'; password: string } | { kind: 'prompt' };

function passwordSource(flags: ChatFlags): PasswordSource {
  if (flags.passwordFile) return { kind: 'fixed', password: readSecretFile(flags.passwordFile, 'password file') };
  const env = process.env.SECURECHAT_PASSWORD;
  if (env) return { kind: 'fixed', password: env };
  if (!process.stdin.isTTY) {
    throw new SecureChatError('usage', 'No password: pass --password-file FILE or set SECURECHAT_PASSWORD (stdin is not a terminal).');
  }
  return { kind: 'prompt' };
}

async function askPassword(flags: ChatFlags, silenced: SilencedTerminal | undefined): Promise<string> {
  silenced?.release();
  const who = flags.user ? ` for ${flags.user}` : '';
  const password = await promptHidden(flags.register ? `New password${who}: ` : `Password${who}: `);
  if (flags.register && (await promptHidden('Password again: ')) !== password) {
    throw new SecureChatError('usage', 'The passwords differ.', { reason: 'passwords_differ' });
  }
  return password;
}

/** Failures the user can fix by typing the password again. */
function worthAnotherTry(err: SecureChatError): boolean {
  return err.code === 'auth_failed' || err.code === 'weak_password' || err.reason === 'passwords_differ';
}

/** With --json every failure is an `error` event on stdout, like every other line. */
async function runChatCommand(flags: ChatFlags): Promise<void> {
  if (!flags.json) return runChat(flags);
  try {
    await runChat(flags);
  } catch (err) {
    const e = toSecureChatError(err);
    if (!(err instanceof SecureChatError) && err instanceof Error) (e as { message: string }).message = err.message;
    printJsonError(e, 'start');
    process.exitCode = e.exitCode;
  }
}

function printJsonError(e: SecureChatError, phase: 'start' | 'connect' | 'login'): void {
  process.stdout.write(JSON.stringify({ event: 'error', phase, ...e.toJSON() }) + '\n');
}

/** Prints a connect/login failure in the mode's form and sets the exit code. */
function fail(e: SecureChatError, phase: 'connect' | 'login', json: boolean): void {
  if (json) printJsonError(e, phase);
  else if (e.code === 'bad_certificate') process.stderr.write(`${e.message}\n`);
  else process.stderr.write(`error: ${e.code}${e.reason ? ` (${e.reason})` : ''}: ${e.message}\n`);
  process.exitCode = e.exitCode;
}

async function runChat(flags: ChatFlags): Promise<void> {
  const servers = parseServerList(flags.host, parsePort(flags.port));
  const first = servers[0];
  const { maxChainDepth, ...fileFlags } = flags;
  if (maxChainDepth !== undefined && !/^\d{1,3}$/.test(maxChainDepth)) throw new SecureChatError('usage', `--max-chain-depth "${maxChainDepth}" is not a whole number.`);
  const json = Boolean(flags.json);
  const files = resolveClientFiles({
    ...fileFlags,
    ...(maxChainDepth !== undefined ? { maxChainDepth: Number(maxChainDepth) } : {}),
    ...(flags.keyPassphraseFile ? { keyPassphrase: readSecretFile(flags.keyPassphraseFile) } : {}),
  });
  const interactive = Boolean(process.stdin.isTTY) && !json;
  const tickets = flags.ticketFile ? openTicketFile(flags.ticketFile, (e) => process.stderr.write(`warning: ${e.message} (tickets kept in memory for this run)\n`)) : undefined;
  if (tickets?.warning) process.stderr.write(`warning: ${tickets.warning}\n`);
  // With a ticket file the password may not be needed (the saved session resumes logged in): a
  // missing one is an error only when a login has to happen.
  let sourceError: unknown;
  let source: PasswordSource;
  try {
    source = passwordSource(flags);
  } catch (err) {
    if (!tickets) throw err;
    sourceError = err;
    source = { kind: 'prompt' };
  }
  // Nothing typed before the password prompt is shown on the screen (or used as the password).
  let silenced = source.kind === 'prompt' && !sourceError ? silenceTerminal() : undefined;
  const serverName = flags.serverName ?? first.host;
  const contact = { host: first.host, port: first.port, serverName };
  if (interactive) process.stderr.write(`Connecting to ${servers.map(endpointName).join(', ')}…\n`);

  let chat: ChatClient;
  try {
    chat = await ChatClient.open({
      host: first.host,
      port: first.port,
      // Several nodes: each is checked against its own host name unless --server-name says otherwise.
      ...(servers.length > 1 ? { servers, ...(flags.serverName ? { serverName: flags.serverName } : {}) } : { serverName }),
      ...files,
      autoFetchFiles: flags.downloadDir,
      reconnect: flags.reconnect,
      ...(tickets ? { tickets: tickets.store } : {}),
    });
  } catch (err) {
    silenced?.release();
    fail(explainConnectError(toSecureChatError(err), contact), 'connect', json);
    return;
  }

  const loginContext = { ...(flags.user ? { user: flags.user } : {}), ...(certificateName(files.cert) ? { certName: certificateName(files.cert) as string } : {}), register: Boolean(flags.register) };
  const resumedUser = chat.adoptResumedLogin(flags.user, source.kind === 'fixed' ? source.password : undefined);
  if (resumedUser) silenced?.release();
  for (let attempt = 1; !resumedUser; attempt++) {
    try {
      if (sourceError) throw sourceError;
      const password = source.kind === 'fixed' ? source.password : await askPassword(flags, silenced);
      // While the server checks it, keys typed are neither shown nor kept for the next prompt.
      if (source.kind === 'prompt') silenced = silenceTerminal();
      if (flags.register) await chat.register(password, flags.user);
      else await chat.login(password, flags.user);
      silenced?.release();
      break;
    } catch (err) {
      const e = explainLoginError(toSecureChatError(err), loginContext);
      if (source.kind === 'prompt' && attempt < PROMPT_ATTEMPTS && worthAnotherTry(e) && !chat.closed) {
        process.stderr.write(`${e.message} Try again (${attempt + 1} of ${PROMPT_ATTEMPTS}).\n`);
        continue;
      }
      silenced?.release();
      chat.close();
      fail(e, 'login', json);
      return;
    }
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
  if (json) process.stdout.write(JSON.stringify({ event: 'ready', user: chat.user?.username, uuid: chat.user?.uuid, resumed: chat.connection.resumed }) + '\n');
  process.exitCode = await runScript({ chat, input: process.stdin, out: process.stdout, err: process.stderr, json, listen: Boolean(flags.listen), ...(stop ? { stop } : {}) });
}
