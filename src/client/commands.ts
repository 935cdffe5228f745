/**
 * The slash-command language shared by the interactive REPL and script mode. Parsing is pure: a
 * line becomes a typed command or a SecureChatError('usage') carrying the usage line, and nothing
 * is sent for a line that does not parse.
 *
 * Addressing rule (one rule, no guessing): where a command takes "USER or GROUP" (`/send`,
 * `/history`), a target written `#name` is a group and anything else is a user. Commands that only
 * take a group (`/g`, `/group …`) accept the name with or without the `#`.
 *
 * Quoting rule (the same in every command): a user, group or path argument may be quoted like in
 * a shell — "my team", 'my team', #"my team" or "#my team" — so names with spaces can be typed:
 * `/group create "my team"`, `/g "Team Two" hi`, `/send "#Team Two" ./a.txt`. The free text of
 * `/msg` and `/g` is taken verbatim after the name.
 */
import { SecureChatError } from '../errors.js';

export type Target = { user: string } | { group: string };

export type GroupAction = 'create' | 'add' | 'remove' | 'promote' | 'demote' | 'leave' | 'info' | 'list' | 'rename' | 'delete';

export type ChatCommand =
  | { kind: 'help' }
  | { kind: 'who' }
  | { kind: 'msg'; to: string; text: string }
  | { kind: 'gsend'; group: string; text: string }
  | { kind: 'group'; action: 'list' }
  | { kind: 'group'; action: 'create' | 'leave' | 'info' | 'delete'; group: string }
  | { kind: 'group'; action: 'add' | 'remove' | 'promote' | 'demote'; group: string; user: string }
  | { kind: 'group'; action: 'rename'; group: string; name: string }
  | { kind: 'send'; target: Target; path: string }
  | { kind: 'history'; target: Target; limit?: number }
  | { kind: 'passwd'; oldPassword?: string; newPassword?: string }
  | { kind: 'quit' };

export const HISTORY_MAX = 200;

const USAGE = {
  help: '/help',
  who: '/who',
  msg: '/msg USER TEXT',
  g: '/g GROUP TEXT',
  send: '/send USER|#GROUP PATH',
  history: `/history USER|#GROUP [N]`,
  passwd: '/passwd   (script mode: /passwd OLD NEW)',
  quit: '/quit',
  'group create': '/group create NAME',
  'group list': '/group list',
  'group info': '/group info GROUP',
  'group add': '/group add GROUP USER',
  'group remove': '/group remove GROUP USER',
  'group promote': '/group promote GROUP USER',
  'group demote': '/group demote GROUP USER',
  'group leave': '/group leave GROUP',
  'group rename': '/group rename GROUP NEW_NAME',
  'group delete': '/group delete GROUP',
} as const;

export const HELP_TEXT = [
  'Commands:',
  `  ${USAGE.who.padEnd(34)} list online users`,
  `  ${USAGE.msg.padEnd(34)} direct message`,
  `  ${USAGE.g.padEnd(34)} message a group`,
  `  ${USAGE.send.padEnd(34)} send a file (≤ the server limit, 10 MB by default)`,
  `  ${USAGE.history.padEnd(34)} last N messages (default 20, max ${HISTORY_MAX})`,
  `  ${'/group list'.padEnd(34)} your groups`,
  `  ${'/group create|info|leave|delete GROUP'.padEnd(34)} manage a group`,
  `  ${'/group add|remove GROUP USER'.padEnd(34)} members (owner/admins)`,
  `  ${'/group promote|demote GROUP USER'.padEnd(34)} admins (owner)`,
  `  ${'/group rename GROUP NEW_NAME'.padEnd(34)} rename (owner/admins)`,
  `  ${'/passwd'.padEnd(34)} change your password`,
  `  ${'/help, /quit'.padEnd(34)}`,
  'Addressing: in /send and /history, "#name" is a group, anything else is a user',
  '(e.g. /send bob ./a.txt, /send #team ./a.txt). Names and paths with spaces are quoted:',
  '/group create "my team", /g "my team" hello, /send "#my team" "./my file.txt".',
].join('\n');

function usage(key: keyof typeof USAGE, why?: string): SecureChatError {
  return new SecureChatError('usage', `${why ? `${why}. ` : ''}Usage: ${USAGE[key]}`);
}

/** Splits off the first whitespace-delimited word; the rest keeps its inner spacing. */
function splitWord(s: string): [string, string] {
  const trimmed = s.replace(/^\s+/, '');
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!m) return ['', ''];
  return [m[1], m[2] ?? ''];
}

function words(s: string): string[] {
  return s.split(/\s+/).filter((w) => w.length > 0);
}

/**
 * Reads one shell-like argument from the start of `s`: quotes ("…" or '…') may appear anywhere in
 * it and protect spaces; inside "…" a backslash escapes " and \. Returns the argument and the rest
 * (its inner spacing kept), or null when `s` is blank. An unterminated quote is a usage error.
 */
export function splitArg(s: string): [string, string] | null {
  let i = 0;
  while (i < s.length && /\s/.test(s[i])) i++;
  if (i >= s.length) return null;
  let arg = '';
  while (i < s.length && !/\s/.test(s[i])) {
    const c = s[i];
    if (c === '"' || c === "'") {
      const close = findClose(s, i + 1, c);
      if (close < 0) throw new SecureChatError('usage', `Unterminated ${c} quote.`);
      const inner = s.slice(i + 1, close);
      arg += c === '"' ? inner.replace(/\\(["\\])/g, '$1') : inner;
      i = close + 1;
    } else {
      arg += c;
      i++;
    }
  }
  const rest = s.slice(i).replace(/^\s+/, '');
  return [arg, rest];
}

function findClose(s: string, from: number, quote: string): number {
  for (let j = from; j < s.length; j++) {
    if (quote === '"' && s[j] === '\\') j++;
    else if (s[j] === quote) return j;
  }
  return -1;
}

/** Every argument of `s`, quotes honoured. */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let rest = s;
  for (let next = splitArg(rest); next; next = splitArg(rest)) {
    out.push(next[0]);
    rest = next[1];
  }
  return out;
}

/** Quotes a name for a command line when it needs it (spaces, quotes, leading #). */
export function quoteArg(name: string): string {
  return /^[^\s"'\\]+$/.test(name) ? name : `"${name.replace(/(["\\])/g, '\\$1')}"`;
}

function stripHash(name: string): string {
  return name.startsWith('#') ? name.slice(1) : name;
}

export function parseTarget(word: string): Target {
  return word.startsWith('#') ? { group: word.slice(1) } : { user: word };
}

/** A path argument: the rest of the line, with one pair of surrounding quotes removed. */
function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'")))) return t.slice(1, -1);
  return t;
}

/**
 * Parses one line. Returns null for a blank line or a `#` comment (script files may carry them);
 * a line not starting with `/` is refused, so a typo never goes out as a message.
 */
export function parseCommand(line: string): ChatCommand | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  if (!trimmed.startsWith('/')) {
    throw new SecureChatError('usage', 'Commands start with "/"; to talk, use /msg USER TEXT or /g GROUP TEXT (see /help).');
  }
  const [head, rest] = splitWord(trimmed);
  const name = head.slice(1).toLowerCase();
  switch (name) {
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'who':
      if (rest.trim()) throw usage('who', 'Unexpected arguments');
      return { kind: 'who' };
    case 'quit':
    case 'exit':
      return { kind: 'quit' };
    case 'msg': {
      const [to, text] = splitArg(rest) ?? ['', ''];
      if (!to || !text.trim()) throw usage('msg', to ? 'Missing text' : 'Missing user');
      return { kind: 'msg', to, text: text.replace(/\s+$/, '') };
    }
    case 'g': {
      const [group, text] = splitArg(rest) ?? ['', ''];
      if (!group || !stripHash(group) || !text.trim()) throw usage('g', group ? 'Missing text' : 'Missing group');
      return { kind: 'gsend', group: stripHash(group), text: text.replace(/\s+$/, '') };
    }
    case 'send': {
      const [target, path] = splitArg(rest) ?? ['', ''];
      const p = unquote(path);
      if (!target || !p) throw usage('send', target ? 'Missing path' : 'Missing recipient');
      const t = parseTarget(target);
      if ('group' in t && !t.group) throw usage('send', 'Empty group name');
      return { kind: 'send', target: t, path: p };
    }
    case 'history': {
      const args = splitArgs(rest);
      if (args.length < 1 || args.length > 2) throw usage('history');
      const t = parseTarget(args[0]);
      if ('group' in t && !t.group) throw usage('history', 'Empty group name');
      if (args.length === 1) return { kind: 'history', target: t };
      const n = Number(args[1]);
      if (!/^\d+$/.test(args[1]) || n < 1 || n > HISTORY_MAX) throw usage('history', `N must be 1..${HISTORY_MAX}`);
      return { kind: 'history', target: t, limit: n };
    }
    case 'passwd': {
      const args = words(rest);
      if (args.length === 0) return { kind: 'passwd' };
      if (args.length !== 2) throw usage('passwd');
      return { kind: 'passwd', oldPassword: args[0], newPassword: args[1] };
    }
    case 'group':
      return parseGroup(rest);
    default:
      throw new SecureChatError('usage', `Unknown command /${name}; type /help for the list.`);
  }
}

function parseGroup(rest: string): ChatCommand {
  const args = splitArgs(rest);
  const action = (args[0] ?? '').toLowerCase();
  const a = args.slice(1).map((x, i) => (i === 0 ? stripHash(x) : x));
  const need = (key: keyof typeof USAGE, n: number): void => {
    if (a.length > n && n >= 1) throw usage(key, 'Too many arguments (names with spaces need quotes, e.g. "my team")');
    if (a.length !== n || a.some((x) => x.length === 0)) throw usage(key);
  };
  switch (action) {
    case 'list':
      need('group list', 0);
      return { kind: 'group', action };
    case 'create':
    case 'leave':
    case 'info':
    case 'delete':
      need(`group ${action}`, 1);
      return { kind: 'group', action, group: a[0] };
    case 'add':
    case 'remove':
    case 'promote':
    case 'demote':
      need(`group ${action}`, 2);
      return { kind: 'group', action, group: a[0], user: a[1] };
    case 'rename':
      need('group rename', 2);
      return { kind: 'group', action, group: a[0], name: stripHash(a[1]) };
    default:
      throw new SecureChatError(
        'usage',
        `${action ? `Unknown group action "${action}"` : 'Missing group action'}. Usage: /group create|list|info|add|remove|promote|demote|leave|rename|delete …`,
      );
  }
}

/** The command line as safe to print or log: passwords never appear. */
export function redactCommand(line: string): string {
  const t = line.trim();
  return /^\/passwd\b/i.test(t) ? '/passwd ***' : t;
}
