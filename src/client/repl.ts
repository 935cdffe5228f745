/**
 * The interactive client: a readline prompt; incoming messages, files and presence printed above
 * it as they arrive; commands run without blocking the prompt (a long /send does not stop you
 * typing); progress bars for transfers on stderr.
 */
import { clearLine, createInterface, cursorTo } from 'node:readline';
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { ChatClient } from './chat-client.js';
import { parseCommand, type ChatCommand } from './commands.js';
import { executeCommand } from './execute.js';
import { formatError, palette, subscribeEvents } from './format.js';
import { ProgressBar } from './progress.js';
import { askHidden, mutableOutput } from './prompt.js';

export interface ReplOptions {
  chat: ChatClient;
  color: boolean;
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
}

/** Resolves with the exit code when the user quits (0) or the server ends the session (1). */
export function runRepl(o: ReplOptions): Promise<number> {
  const input = o.input ?? process.stdin;
  const output = o.output ?? process.stdout;
  const p = palette(o.color);
  const out = mutableOutput(output);
  const rl = createInterface({ input, output: out.stream, terminal: true, historySize: 200 });
  const me = o.chat.user?.username ?? 'me';
  rl.setPrompt(`${p.bold(me)}> `);

  const printAbove = (line: string): void => {
    if (out.muted) {
      output.write('\n' + line + '\n');
      return;
    }
    clearLine(output, 0);
    cursorTo(output, 0);
    output.write(line + '\n');
    rl.prompt(true);
  };

  subscribeEvents(o.chat, p, (_data, human) => {
    if (human) printAbove(human);
  });
  const downloads = new Map<number, ProgressBar>();
  o.chat.on('file_progress', ({ message, done, total }) => {
    let bar = downloads.get(message.id);
    if (!bar) {
      bar = new ProgressBar(`↓ ${message.file?.name ?? 'file'}`, total);
      downloads.set(message.id, bar);
    }
    bar.update(done, total);
    if (done >= total) {
      bar.finish();
      downloads.delete(message.id);
    }
  });

  const askPasswords = async (): Promise<{ oldPassword: string; newPassword: string }> => {
    const oldPassword = await askHidden(rl, out, 'Current password: ', output);
    const newPassword = await askHidden(rl, out, 'New password: ', output);
    const again = await askHidden(rl, out, 'New password again: ', output);
    if (again !== newPassword) throw new SecureChatError('usage', 'The new passwords differ; nothing changed.');
    return { oldPassword, newPassword };
  };

  const run = async (cmd: Exclude<ChatCommand, { kind: 'quit' }>): Promise<void> => {
    try {
      const outcome = await executeCommand(cmd, {
        chat: o.chat,
        palette: p,
        askPasswords,
        sendProgress: (name) => {
          const bar = new ProgressBar(`↑ ${name}`, undefined);
          return { update: (done, total) => bar.update(done, total), finish: () => bar.finish() };
        },
      });
      for (const l of outcome.lines) printAbove(l);
    } catch (err) {
      printAbove(formatError(toSecureChatError(err), p));
    }
  };

  printAbove(p.dim(`Connected as ${me}. Type /help for commands, /quit to leave.`));

  return new Promise<number>((resolve) => {
    let finished = false;
    const finish = (code: number): void => {
      if (finished) return;
      finished = true;
      rl.close();
      resolve(code);
    };
    rl.on('line', (line) => {
      let cmd: ChatCommand | null;
      try {
        cmd = parseCommand(line);
      } catch (err) {
        printAbove(formatError(toSecureChatError(err), p));
        return;
      }
      if (cmd === null) {
        rl.prompt();
        return;
      }
      if (cmd.kind === 'quit') {
        void o.chat.idle().finally(() => {
          o.chat.close();
          finish(0);
        });
        return;
      }
      // Results re-draw the prompt when they print. While /passwd asks its questions, readline
      // hands typed lines to them, not to this handler, so it gets no prompt of its own.
      void run(cmd);
      if (cmd.kind !== 'passwd') rl.prompt();
    });
    rl.on('close', () => {
      // Ctrl-D: leave cleanly after what is in flight.
      void o.chat.idle().finally(() => {
        o.chat.close();
        finish(0);
      });
    });
    rl.on('SIGINT', () => {
      o.chat.close();
      finish(0);
    });
    o.chat.on('close', (err) => {
      if (finished) return;
      if (err) printAbove(formatError(err, p, 'connection'));
      else printAbove(p.dim('connection closed'));
      finish(err ? 1 : 0);
    });
  });
}
