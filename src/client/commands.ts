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
  | { kind: 'help'; topic?: string }
  | { kind: 'who' }
  /** `/query bob`, `/query #team`: plain lines go there; `/query` alone leaves conversation mode. */
  | { kind: 'query'; target: Target | null }
  /** A plain line in conversation mode: sent to the current conversation. */
  | { kind: 'say'; text: string }
  | { kind: 'list' }
  | { kind: 'msg'; to: string; text: string }
  | { kind: 'gsend'; group: string; text: string }
  | { kind: 'group'; action: 'list' }
  | { kind: 'group'; action: 'create' | 'leave' | 'info' | 'delete'; group: string }
  | { kind: 'group'; action: 'add' | 'remove' | 'promote' | 'demote'; group: string; user: string }
  | { kind: 'group'; action: 'rename'; group: string; name: string }
  /** Without `target`: the current conversation. */
  | { kind: 'send'; target?: Target; path: string }
  | { kind: 'history'; target?: Target; limit?: number }
  | { kind: 'passwd'; oldPassword?: string; newPassword?: string }
  | { kind: 'quit' };

export const HISTORY_MAX = 200;

/** Every command once: usage line, what it does, an example (`/help COMMAND` prints all three). */
export interface CommandHelp {
  usage: string;
  summary: string;
  example: string;
  aliases?: string[];
}

export const COMMANDS: Record<string, CommandHelp> = {
  query: { usage: '/query USER|#GROUP', summary: 'talk to USER or #GROUP: plain lines go there (/query alone: leave)', example: '/query bob   then just type: hi bob', aliases: ['q'] },
  msg: { usage: '/msg USER TEXT', summary: 'one direct message, without changing the conversation', example: '/msg bob lunch at 12?' },
  g: { usage: '/g GROUP TEXT', summary: 'one group message', example: '/g team build is green' },
  list: { usage: '/list', summary: 'conversations, with messages that arrived while you were elsewhere', example: '/list', aliases: ['unread'] },
  history: { usage: `/history [USER|#GROUP] [N]`, summary: `last N messages (default 20, max ${HISTORY_MAX}), with date changes; default: the current conversation`, example: '/history #team 50' },
  who: { usage: '/who', summary: 'who is online (each user once, with their number of sessions)', example: '/who' },
  send: { usage: '/send [USER|#GROUP] PATH', summary: 'send a file (≤ the server limit, 10 MB by default); default: the current conversation', example: '/send bob ./report.pdf' },
  group: {
    usage: '/group create|list|info|add|remove|promote|demote|leave|rename|delete …',
    summary: 'manage groups: create NAME, info GROUP, add|remove GROUP USER (owner/admins), promote|demote GROUP USER (owner), leave GROUP, rename GROUP NEW (owner/admins), delete GROUP',
    example: '/group create team   /group add team bob',
  },
  passwd: { usage: '/passwd   (script mode: /passwd OLD NEW)', summary: 'change your password (asked hidden)', example: '/passwd' },
  help: { usage: '/help [COMMAND]', summary: 'this list, or one command with an example', example: '/help query', aliases: ['?'] },
  quit: { usage: '/quit', summary: 'leave (after what is in flight)', example: '/quit', aliases: ['exit'] },
};

const ALIASES: Record<string, string> = Object.fromEntries(
  Object.entries(COMMANDS).flatMap(([name, h]) => (h.aliases ?? []).map((a) => [a, name])),
);

/** Every name a command can be typed as (completion). */
export const COMMAND_NAMES: string[] = [...Object.keys(COMMANDS), ...Object.keys(ALIASES)].sort();

export const GROUP_ACTIONS = ['create', 'list', 'info', 'add', 'remove', 'promote', 'demote', 'leave', 'rename', 'delete'] as const;

const USAGE = {
  help: COMMANDS.help.usage,
  who: COMMANDS.who.usage,
  msg: COMMANDS.msg.usage,
  g: COMMANDS.g.usage,
  send: COMMANDS.send.usage,
  history: COMMANDS.history.usage,
  passwd: COMMANDS.passwd.usage,
  quit: COMMANDS.quit.usage,
  query: COMMANDS.query.usage,
  list: COMMANDS.list.usage,
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
  'Commands (/help COMMAND for an example):',
  ...Object.values(COMMANDS).map((h) => `  ${(h.usage.split('   ')[0] + (h.aliases ? `  (/${h.aliases.join(', /')})` : '')).padEnd(34)} ${h.summary.split(':')[0]}`),
  'Conversation mode: after /query bob (or /q #team), lines without "/" go there;',
  'start a line with "//" to send one that begins with "/".',
  'Addressing: "#name" is a group, anything else is a user (/send #team ./a.txt).',
  'Names and paths with spaces are quoted: /group create "my team", /g "my team" hello.',
].join('\n');

/** `/help COMMAND`: usage, what it does, an example. */
export function commandHelp(topic: string): string {
  const name = topic.replace(/^\//, '').toLowerCase();
  const h = COMMANDS[name] ?? COMMANDS[ALIASES[name] ?? ''];
  if (!h) throw new SecureChatError('usage', `No command /${name}; type /help for the list.`);
  return [`${h.usage}${h.aliases ? `   (also /${h.aliases.join(', /')})` : ''}`, `  ${h.summary}`, `  Example: ${h.example}`].join('\n');
}

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

export interface ParseContext {
  /** A conversation is current (`/query`): a line without "/" is text for it. */
  conversation?: boolean;
  /** Lines starting with "#" are comments (script files); in the REPL's conversation mode they are text. */
  comments?: boolean;
}

/**
 * Parses one line. Returns null for a blank line or a `#` comment (script files may carry them).
 * Outside conversation mode a line not starting with `/` is refused, so a typo never goes out as a
 * message; in conversation mode it is text for the current conversation ("//…" sends "/…").
 */
export function parseCommand(line: string, ctx: ParseContext = {}): ChatCommand | null {
  const trimmed = line.trim();
  if (trimmed === '') return null;
  if (trimmed.startsWith('#') && (ctx.comments !== false || !ctx.conversation)) return null;
  if (ctx.conversation && trimmed.startsWith('//')) return { kind: 'say', text: line.replace(/^\s*\//, '').replace(/\s+$/, '') };
  if (!trimmed.startsWith('/')) {
    if (ctx.conversation) return { kind: 'say', text: line.replace(/\s+$/, '') };
    throw new SecureChatError('usage', 'Commands start with "/"; to talk, /query USER (or #GROUP) and type, or /msg USER TEXT (see /help).');
  }
  const [head, rest] = splitWord(trimmed);
  const name = head.slice(1).toLowerCase();
  switch (name) {
    case 'help':
    case '?': {
      const topic = rest.trim();
      if (topic) commandHelp(topic); // an unknown topic is a usage error now, not at execution
      return topic ? { kind: 'help', topic } : { kind: 'help' };
    }
    case 'who':
      if (rest.trim()) throw usage('who', 'Unexpected arguments');
      return { kind: 'who' };
    case 'list':
    case 'unread':
      if (rest.trim()) throw usage('list', 'Unexpected arguments');
      return { kind: 'list' };
    case 'query':
    case 'q': {
      const args = splitArgs(rest);
      if (args.length > 1) throw usage('query', 'One name only (names with spaces need quotes)');
      if (args.length === 0) return { kind: 'query', target: null };
      const t = parseTarget(args[0]);
      if (('group' in t && !t.group) || ('user' in t && !t.user)) throw usage('query', 'Empty name');
      return { kind: 'query', target: t };
    }
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
      const first = splitArg(rest);
      if (!first) throw usage('send', 'Missing path');
      const [target, path] = first;
      const p = unquote(path);
      // One argument: a path for the current conversation.
      if (!p) return { kind: 'send', path: target };
      const t = parseTarget(target);
      if ('group' in t && !t.group) throw usage('send', 'Empty group name');
      return { kind: 'send', target: t, path: p };
    }
    case 'history': {
      const args = splitArgs(rest);
      if (args.length > 2) throw usage('history');
      if (args.length === 0) return { kind: 'history' };
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
