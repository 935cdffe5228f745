/**
 * How events and results look: human lines (optionally coloured) for the REPL and plain script
 * mode, and one JSON object per line for `--json`. Both printers read the same typed events.
 */
import type { SecureChatError } from '../errors.js';
import type { ChatClient, ChatEvent, ChatMessage, DeliveredEvent, FileEvent, GroupEvent, PresenceEvent } from './chat-client.js';
import { formatBytes } from './progress.js';

export interface Palette {
  dim(s: string): string;
  bold(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  magenta(s: string): string;
}

const ansi = (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const plain = (s: string): string => s;

/** Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env, flag = true): boolean {
  return flag && Boolean(stream.isTTY) && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
}

export function palette(enabled: boolean): Palette {
  if (!enabled) return { dim: plain, bold: plain, red: plain, green: plain, yellow: plain, cyan: plain, magenta: plain };
  return { dim: ansi(2), bold: ansi(1), red: ansi(31), green: ansi(32), yellow: ansi(33), cyan: ansi(36), magenta: ansi(35) };
}

/** Control characters from a peer must not reach our terminal (escape-sequence injection). */
export function safeText(s: unknown): string {
  // eslint-disable-next-line no-control-regex
  return String(s ?? '').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '�');
}

function clock(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '--:--' : `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export function where(m: { to?: string; group?: string }): string {
  return m.group !== undefined ? `#${safeText(m.group)}` : safeText(m.to);
}

export function formatMessage(m: ChatMessage, p: Palette): string {
  const head = `${p.dim(`[${clock(m.created_at)}]`)} ${p.bold(safeText(m.from))} ${p.dim('→')} ${p.cyan(where(m))}`;
  if (m.kind === 'file' && m.file) {
    return `${head}: ${p.magenta('[file]')} ${safeText(m.file.name)} (${formatBytes(m.file.size)})${m.text ? ` ${safeText(m.text)}` : ''}`;
  }
  return `${head}: ${safeText(m.text)}`;
}

/** "Wednesday 2 December 2026" in local time, the day a message belongs to. */
export function dayLabel(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return 'unknown date';
  return d.toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).replace(',', '');
}

function dayOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** History lines: a "— Wednesday 2 December 2026 —" line before the first message and at each change of day. */
export function formatHistory(messages: ChatMessage[], p: Palette): string[] {
  const lines: string[] = [];
  let day: string | undefined;
  for (const m of messages) {
    const d = dayOf(m.created_at);
    if (d !== day) {
      lines.push(p.dim(`— ${dayLabel(m.created_at)} —`));
      day = d;
    }
    lines.push(formatMessage(m, p));
  }
  return lines;
}

/** Delivery state of one of our own messages: sending, stored (✓), delivered (✓✓), failed (✗). */
export type OwnState = { state: 'sending' } | { state: 'stored' } | { state: 'delivered'; count: number; group: boolean } | { state: 'failed' };

export function ownMark(s: OwnState, p: Palette): string {
  switch (s.state) {
    case 'sending':
      return p.dim('…');
    case 'stored':
      return p.dim('✓');
    case 'delivered':
      return p.green('✓✓') + (s.group && s.count > 1 ? p.dim(` ${s.count}`) : '');
    case 'failed':
      return p.red('✗');
  }
}

/** Our own message, shown like an incoming one, with its mark: "[10:49] alice → bob: hi ✓". */
export function formatOwnMessage(m: { from: string; to?: string; group?: string; text: string; created_at: number }, s: OwnState, p: Palette): string {
  const head = `${p.dim(`[${clock(m.created_at)}]`)} ${p.bold(safeText(m.from))} ${p.dim('→')} ${p.cyan(where(m))}`;
  return `${head}: ${safeText(m.text)} ${ownMark(s, p)}`;
}

export function formatFile(f: FileEvent, p: Palette): string {
  return `${p.magenta('[file saved]')} from ${safeText(f.from)} → ${where(f)}: ${safeText(f.path)} (${formatBytes(f.size)}, sha256 ${f.sha256.slice(0, 16)}…)`;
}

export function formatPresence(e: PresenceEvent, p: Palette): string {
  return p.dim(`* ${safeText(e.user)} is ${e.status === 'online' ? p.green('online') : 'offline'}`);
}

/**
 * "alice added bob to #team", "carol left #team", "bob removed carol from #team", "alice renamed
 * #team to #core", "alice made bob an admin of #team". `me` turns our own name into "you". Without
 * `by` (an older server) the sentence is passive: "bob was added to #team".
 */
export function describeGroupEvent(e: GroupEvent, me?: string): string {
  const g = `#${safeText(e.group)}`;
  const who = (name: string | undefined): string => (name === undefined ? 'someone' : me !== undefined && name === me ? 'you' : safeText(name));
  const by = e.by !== undefined ? who(e.by) : undefined;
  const user = who(e.user);
  switch (e.event) {
    case 'added':
      return by ? `${by} added ${user} to ${g}` : `${user} ${user === 'you' ? 'were' : 'was'} added to ${g}`;
    case 'left':
      return `${user} left ${g}`;
    case 'removed':
      if (e.by !== undefined && e.by === e.user) return `${user} left ${g}`;
      return by ? `${by} removed ${user} from ${g}` : `${user} ${user === 'you' ? 'were' : 'was'} removed from ${g}`;
    case 'renamed':
      return by ? `${by} renamed ${g} to #${safeText(e.name)}` : `${g} was renamed to #${safeText(e.name)}`;
    case 'deleted':
      return by ? `${by} deleted ${g}` : `${g} was deleted`;
    case 'role': {
      const role = e.role === 'admin' ? 'an admin' : e.role === 'owner' ? 'the owner' : e.role === 'member' ? 'a member (no longer an admin)' : safeText(e.role);
      if (by) return `${by} made ${user} ${role} of ${g}`;
      return `${user} ${user === 'you' ? 'are' : 'is'} now ${role} of ${g}`;
    }
    default:
      return `${g}: ${safeText((e as { event: unknown }).event)}${by ? ` (by ${by})` : ''}`;
  }
}

export function formatGroupEvent(e: GroupEvent, p: Palette, me?: string): string {
  return p.yellow(`* ${describeGroupEvent(e, me)}`);
}

export function formatDelivered(e: DeliveredEvent, p: Palette): string {
  return p.dim(`✓ message ${e.id} delivered to ${safeText(e.to)}`);
}

export function formatError(err: SecureChatError, p: Palette, command?: string): string {
  const reason = err.reason ? ` (${err.reason})` : '';
  return p.red(`error: ${err.code}${reason}: ${err.message}${command ? `  [${command}]` : ''}`);
}

export function jsonLine(obj: Record<string, unknown>): string {
  return JSON.stringify(obj) + '\n';
}

/** Receives each event both as data and as a human line (and the push, when it is one); the caller prints one of the two. */
export type EventSink = (data: Record<string, unknown>, human: string, ev?: ChatEvent) => void;

/** Describes one ChatEvent in the `{"event": …}` shape of `--json` and as a human line. */
export function describeEvent(ev: ChatEvent, p: Palette): { data: Record<string, unknown>; human: string } {
  switch (ev.type) {
    case 'message':
      return { data: { event: 'message', ...ev.message }, human: formatMessage(ev.message, p) };
    case 'file':
      return { data: { event: 'file', ...ev.file }, human: formatFile(ev.file, p) };
    case 'file_error': {
      const { message, error } = ev;
      return {
        data: { event: 'file_error', id: message.id, from: message.from, file: message.file, code: error.code, message: error.message },
        human: formatError(error, p, `file from ${safeText(message.from)}`),
      };
    }
    case 'presence':
      return { data: { event: 'presence', ...ev.presence }, human: formatPresence(ev.presence, p) };
    case 'group_event': {
      // The push's own `event` field ("added", …) would clash with the line's tag, so it becomes `change`.
      const { event: change, ...rest } = ev.group_event;
      return { data: { event: 'group_event', change, ...rest }, human: formatGroupEvent(ev.group_event, p) };
    }
    case 'delivered':
      return { data: { event: 'delivered', ...ev.delivered }, human: formatDelivered(ev.delivered, p) };
    case 'caught_up':
      return { data: { event: 'caught_up', pending: ev.pending }, human: ev.pending === 0 ? '' : p.dim(`— ${ev.pending} message${ev.pending === 1 ? '' : 's'} arrived while you were away (above) —`) };
  }
}

/** Starts consuming the ChatClient's events into `sink`; warnings (lifecycle, not pushes) go there too. */
export function subscribeEvents(chat: ChatClient, p: Palette, sink: EventSink): () => void {
  const onWarning = (err: SecureChatError): void => sink({ event: 'warning', code: err.code, message: err.message }, formatError(err, p));
  // The connection's ups and downs (lifecycle, not pushes) are events of the run too.
  const onReconnecting = (e: { attempt: number; delayMs: number; error: SecureChatError | undefined }): void =>
    sink(
      { event: 'reconnecting', attempt: e.attempt, delay_ms: e.delayMs, ...(e.error ? { code: e.error.code, message: e.error.message } : {}) },
      p.yellow(`reconnecting… (attempt ${e.attempt}${e.error ? `, ${e.error.code}` : ', the server went away'}; what you type is kept and sent once back)`),
    );
  const onReconnected = (e: { attempts: number }): void => sink({ event: 'reconnected', attempts: e.attempts }, p.green('reconnected'));
  chat.on('warning', onWarning);
  chat.on('reconnecting', onReconnecting);
  chat.on('reconnected', onReconnected);
  const stop = chat.consume((ev) => {
    const { data, human } = describeEvent(ev, p);
    sink(data, human, ev);
  });
  return () => {
    stop();
    chat.off('warning', onWarning);
    chat.off('reconnecting', onReconnecting);
    chat.off('reconnected', onReconnected);
  };
}
