/**
 * Script mode: the slash commands read line by line from a stream (stdin when it is not a
 * terminal), run one after the other so that a script's order is the order of effects. At end of
 * input it waits until the server's login replay is complete (`caught_up`: every message and file
 * that was waiting has been printed), every request has its response and every received message
 * is acknowledged; the exit code says whether any command failed.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { ChatClient } from './chat-client.js';
import { parseCommand, redactCommand, type ChatCommand } from './commands.js';
import { Conversations } from './conversations.js';
import { executeCommand } from './execute.js';
import { formatError, jsonLine, palette, subscribeEvents } from './format.js';
import { ProgressBar } from './progress.js';

export interface ScriptOptions {
  chat: ChatClient;
  input: Readable;
  out: Writable;
  err: Writable;
  json: boolean;
  /** Stay connected after end of input, printing events, until `stop` resolves or the connection ends. */
  listen: boolean;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM); only used with `listen`. */
  stop?: Promise<void>;
}

/** A client-chosen tag echoed on the result (or error) of its command. */
export type Ref = string | number;

const MAX_REF_CHARS = 128;

/**
 * One input line: a slash command as typed, or — to tag it — a JSON object
 * `{"command": "/msg bob hi", "ref": 42}` whose `ref` (a string of ≤128 characters or an integer)
 * comes back on the command's `result` or `error` line. A line starting with "{" was refused before
 * (commands start with "/"), so no existing script changes meaning.
 */
export function readInputLine(raw: string): { line: string; ref?: Ref } {
  const t = raw.trim();
  if (!t.startsWith('{')) return { line: raw };
  let obj: unknown;
  try {
    obj = JSON.parse(t);
  } catch {
    throw new SecureChatError('usage', 'A line starting with "{" must be a JSON object: {"command": "/msg bob hi", "ref": 1}.');
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new SecureChatError('usage', 'A JSON input line must be an object: {"command": "/msg bob hi", "ref": 1}.');
  const { command, ref, ...rest } = obj as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new SecureChatError('usage', `Unknown field "${extra[0]}" in a JSON input line (only "command" and "ref").`);
  if (typeof command !== 'string' || command.includes('\n')) throw new SecureChatError('usage', 'A JSON input line needs "command": one slash command as text.');
  if (ref === undefined) return { line: command };
  const okRef = (typeof ref === 'string' && ref.length <= MAX_REF_CHARS) || (typeof ref === 'number' && Number.isSafeInteger(ref));
  if (!okRef) throw new SecureChatError('usage', `"ref" must be a string of at most ${MAX_REF_CHARS} characters or an integer.`);
  return { line: command, ref };
}

/** Returns the process exit code: 0 when every command succeeded, 1 otherwise. */
export async function runScript(o: ScriptOptions): Promise<number> {
  const p = palette(false);
  let failed = false;
  const print = (line: string): void => void o.out.write(line.endsWith('\n') ? line : line + '\n');
  const conversations = new Conversations(() => o.chat.user?.username ?? '');
  // Plain mode prints no line for caught_up: scripts that read the human lines see what they saw before.
  subscribeEvents(o.chat, p, (data, human, ev) => {
    if (ev?.type === 'message') conversations.noteMessage(ev.message);
    if (o.json) print(jsonLine(data));
    else if (data.event !== 'caught_up') print(human);
  });

  const reportError = (err: SecureChatError, command?: string, ref?: Ref): void => {
    failed = true;
    if (o.json) print(jsonLine({ event: 'error', ...(command !== undefined ? { command } : {}), ...(ref !== undefined ? { ref } : {}), ...err.toJSON() }));
    else o.err.write(formatError(err, p, command) + '\n');
  };

  const closed = new Promise<SecureChatError | undefined>((resolve) => {
    if (o.chat.closed) resolve(o.chat.closeReason);
    o.chat.once('close', resolve);
  });

  const rl = createInterface({ input: o.input, crlfDelay: Infinity });
  // A stop (SIGINT/SIGTERM with --listen) also ends the reading: with stdin still open (a pipe, a
  // FIFO) the run would otherwise ignore the signal it trapped and never exit.
  let stopped = false;
  void o.stop?.then(() => {
    stopped = true;
    rl.close();
  });
  try {
    for await (const raw of rl) {
      if (o.chat.closed) break;
      let line: string;
      let ref: Ref | undefined;
      try {
        ({ line, ref } = readInputLine(raw));
      } catch (err) {
        reportError(toSecureChatError(err), redactCommand(raw));
        continue;
      }
      const command = redactCommand(line);
      let cmd: ChatCommand | null;
      try {
        cmd = parseCommand(line, { conversation: conversations.current !== null });
      } catch (err) {
        reportError(toSecureChatError(err), command, ref);
        continue;
      }
      if (cmd === null) continue;
      if (cmd.kind === 'quit') break;
      try {
        const outcome = await executeCommand(cmd, {
          chat: o.chat,
          palette: p,
          conversations,
          sendProgress: (name) => {
            const bar = new ProgressBar(name, undefined, o.err as unknown as NodeJS.WriteStream);
            return { update: (done, total) => bar.update(done, total), finish: () => bar.finish() };
          },
        });
        if (o.json) print(jsonLine({ ...outcome.data, event: 'result', command, ...(ref !== undefined ? { ref } : {}), ok: true }));
        else for (const l of outcome.lines) print(l);
      } catch (err) {
        reportError(toSecureChatError(err), command, ref);
      }
    }
  } finally {
    rl.close();
  }

  if (!o.chat.closed && !stopped) {
    try {
      await o.chat.caughtUp();
    } catch {
      // The connection ended first; reported below.
    }
  }
  await o.chat.idle();
  if (o.listen && !o.chat.closed) {
    await Promise.race([closed, o.stop ?? new Promise<void>(() => undefined)]);
    await o.chat.idle();
  }
  if (o.chat.closed) {
    const reason = o.chat.closeReason;
    // Ending the session ourselves is fine; the server dropping it is a failure of the run.
    if (reason) reportError(reason);
  } else {
    o.chat.close();
  }
  return failed ? 1 : 0;
}
