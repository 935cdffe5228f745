/**
 * The interactive client: a readline prompt showing the current conversation (`alice → bob>`);
 * incoming messages, files and presence printed above it as they arrive; your own messages shown
 * like incoming ones and marked ✓ once stored and ✓✓ once delivered (re-written in place);
 * commands run without blocking the prompt (a long /send does not stop you typing); a dropped
 * connection shows "reconnecting…" and keeps what you are typing; tab completes commands and names.
 */
import { createInterface } from 'node:readline';
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { ChatClient, ChatEvent, SentMessage } from './chat-client.js';
import { parseCommand, type ChatCommand, type Target } from './commands.js';
import { Completer } from './completion.js';
import { Conversations, targetKey } from './conversations.js';
import { executeCommand } from './execute.js';
import { formatError, formatMessage, formatOwnMessage, palette, safeText, subscribeEvents, type OwnState, type Palette } from './format.js';
import { ProgressBar } from './progress.js';
import { askHidden, mutableOutput } from './prompt.js';
import { ReplScreen } from './screen.js';

export interface ReplOptions {
  chat: ChatClient;
  color: boolean;
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
}

/** At most this many own messages are remembered for their ✓✓ (older ones get a short line). */
const OWN_TRACKED = 500;

interface Own {
  key: string;
  line: { from: string; to?: string; group?: string; text: string; created_at: number };
  state: OwnState;
}

/** Resolves with the exit code when the user quits (0) or the connection ends for good (1). */
export function runRepl(o: ReplOptions): Promise<number> {
  const input = o.input ?? process.stdin;
  const output = o.output ?? process.stdout;
  const p = palette(o.color);
  const out = mutableOutput(output);
  const me = (): string => o.chat.user?.username ?? 'me';
  const conversations = new Conversations(me);
  const completer = new Completer(o.chat, conversations);
  const rl = createInterface({ input, output: out.stream, terminal: true, historySize: 200, completer: completer.complete });
  const screen = new ReplScreen(rl, output, out);
  const promptText = (): string => {
    const c = conversations.current;
    return c ? `${p.bold(safeText(me()))} ${p.dim('→')} ${p.cyan(safeText(targetKey(c)))}> ` : `${p.bold(safeText(me()))}> `;
  };
  const plainPrompt = (): string => {
    const c = conversations.current;
    return c ? `${me()} → ${targetKey(c)}> ` : `${me()}> `;
  };
  rl.setPrompt(promptText());
  const printAbove = (line: string, key?: string): void => screen.print(line, key);

  const own = ownMessages(screen, p, me);

  subscribeEvents(o.chat, p, (data, human, ev) => {
    if (ev) return void onEvent(ev, human);
    if (data.event === 'reconnecting') {
      if (!screen.update('reconnecting', human)) printAbove(human, 'reconnecting');
      return;
    }
    if (human) printAbove(human);
  });

  function onEvent(ev: ChatEvent, human: string): void {
    if (ev.type === 'message') {
      const m = ev.message;
      const here = conversations.noteMessage(m);
      // Shown either way; one from elsewhere says where, and how to answer there.
      if (conversations.current && !here) {
        const t = m.group !== undefined ? `#${m.group}` : m.from === me() ? (m.to ?? '') : m.from;
        printAbove(`${p.yellow('»')} ${formatMessage(m, p)}  ${p.dim(`(in ${safeText(t)}: /q ${safeText(t)})`)}`);
      } else printAbove(formatMessage(m, p));
      return;
    }
    if (ev.type === 'delivered') {
      own.delivered(ev.delivered.id, ev.delivered.to);
      return;
    }
    if (ev.type === 'group_event') {
      const g = ev.group_event;
      if (g.event === 'renamed' && g.name) conversations.renameGroup(g.group, g.name);
      if (g.event === 'deleted' || ((g.event === 'removed' || g.event === 'left') && g.user === me())) conversations.forgetGroup(g.group);
      if (g.event === 'added' && g.user === me()) conversations.knowGroup(g.group);
      completer.invalidate();
      rl.setPrompt(promptText());
    }
    if (ev.type === 'presence') completer.invalidate();
    if (human) printAbove(human);
  }

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
        conversations,
        ownMessage: (to, text) => own.sending(to, text),
        sendProgress: (name) => {
          const bar = new ProgressBar(`↑ ${name}`, undefined);
          return { update: (done, total) => bar.update(done, total), finish: () => bar.finish() };
        },
      });
      if (cmd.kind === 'query') rl.setPrompt(promptText());
      for (const l of outcome.lines) printAbove(l);
    } catch (err) {
      printAbove(formatError(toSecureChatError(err), p));
    }
  };

  printAbove(p.dim(`Connected as ${me()}. /query USER (or #GROUP) to start talking; /help for commands, /quit to leave.`));

  return new Promise<number>((resolve) => {
    let finished = false;
    const finish = (code: number): void => {
      if (finished) return;
      finished = true;
      rl.close();
      resolve(code);
    };
    rl.on('line', (line) => {
      const entered = plainPrompt() + line;
      let cmd: ChatCommand | null;
      try {
        cmd = parseCommand(line, { conversation: conversations.current !== null, comments: false });
      } catch (err) {
        screen.entered(entered, false);
        printAbove(formatError(toSecureChatError(err), p));
        return;
      }
      // A message line is shown as the message itself (with its ✓), not twice.
      screen.entered(entered, cmd?.kind === 'say');
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
      if (cmd.kind === 'query') {
        // Switch at once, so the next line typed already goes to the new conversation.
        conversations.setCurrent(cmd.target);
        rl.setPrompt(promptText());
      }
      // Results re-draw the prompt when they print. While /passwd asks its questions, readline
      // hands typed lines to them, not to this handler, so it gets no prompt of its own.
      void run(cmd);
      if (cmd.kind !== 'passwd' && cmd.kind !== 'say') rl.prompt();
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

/**
 * Own messages on screen: printed as "sending" when typed, re-written with ✓ when the server
 * stored them and ✓✓ when a recipient got them. A receipt can beat the send's answer, so early
 * ones wait for it. When the line has scrolled away a short line says the same.
 */
function ownMessages(screen: ReplScreen, p: Palette, me: () => string) {
  let seq = 0;
  let inFlight = 0;
  const byId = new Map<number, Own>();
  const early = new Map<number, string[]>();
  const render = (e: Own): void => {
    const line = formatOwnMessage(e.line, e.state, p);
    if (screen.update(e.key, line)) return;
    if (e.state.state === 'delivered') screen.print(p.dim(`✓✓ ${safeText(e.line.text.slice(0, 40))}${e.line.text.length > 40 ? '…' : ''} — delivered`));
    else if (e.state.state === 'stored') screen.print(p.dim(`✓ stored: ${safeText(e.line.text.slice(0, 40))}`));
  };
  const forgetOld = (): void => {
    while (byId.size > OWN_TRACKED) byId.delete(byId.keys().next().value as number);
    while (early.size > OWN_TRACKED) early.delete(early.keys().next().value as number);
  };
  const delivered = (e: Own, count: number): void => {
    e.state = { state: 'delivered', count, group: e.line.group !== undefined };
    render(e);
  };
  return {
    sending(to: Target, text: string) {
      const e: Own = {
        key: `own-${++seq}`,
        line: { from: me(), ...('group' in to ? { group: to.group } : { to: to.user }), text, created_at: Date.now() },
        state: { state: 'sending' },
      };
      screen.print(formatOwnMessage(e.line, e.state, p), e.key);
      inFlight++;
      return {
        stored(r: SentMessage) {
          inFlight--;
          e.line.created_at = r.created_at;
          byId.set(r.id, e);
          forgetOld();
          const got = early.get(r.id);
          early.delete(r.id);
          if (got) delivered(e, got.length);
          else {
            e.state = { state: 'stored' };
            render(e);
          }
        },
        failed() {
          inFlight--;
          e.state = { state: 'failed' };
          screen.update(e.key, formatOwnMessage(e.line, e.state, p));
        },
      };
    },
    delivered(id: number, to: string) {
      const e = byId.get(id);
      if (!e && inFlight === 0) {
        // A message from an earlier run (or another of our sessions).
        screen.print(p.dim(`✓✓ message ${id} delivered to ${safeText(to)}`));
        return;
      }
      if (!e) {
        const list = early.get(id) ?? [];
        list.push(to);
        early.set(id, list);
        forgetOld();
        return;
      }
      delivered(e, e.state.state === 'delivered' ? e.state.count + 1 : 1);
    },
  };
}
