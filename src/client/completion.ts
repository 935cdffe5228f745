/**
 * Tab completion for the REPL (a readline completer): command names, then — depending on the
 * command and the argument — user names (online users and conversation partners), group names
 * (your groups, written `#name` where a command takes USER or #GROUP) and `/group` actions. Names
 * come from a small cache refreshed from the server (`who`, `group_list`) at most every few seconds
 * and after presence or group events; completion never waits longer than one round trip.
 */
import type { ChatClient } from './chat-client.js';
import { COMMAND_NAMES, GROUP_ACTIONS, quoteArg } from './commands.js';
import type { Conversations } from './conversations.js';

const REFRESH_MS = 5000;

type Kind = 'users' | 'groups' | 'targets' | 'commands' | 'actions' | 'none';

/** What the argument at `index` (0-based, after the command word) of `command` is. */
export function argumentKind(command: string, index: number, args: string[]): Kind {
  switch (command) {
    case 'msg':
      return index === 0 ? 'users' : 'none';
    case 'g':
      return index === 0 ? 'groups' : 'none';
    case 'query':
    case 'q':
    case 'history':
    case 'send':
      return index === 0 ? 'targets' : 'none';
    case 'help':
    case '?':
      return index === 0 ? 'commands' : 'none';
    case 'group': {
      if (index === 0) return 'actions';
      const action = (args[0] ?? '').toLowerCase();
      if (action === 'create' || action === 'list') return 'none';
      if (index === 1) return 'groups';
      if (index === 2 && ['add', 'remove', 'promote', 'demote'].includes(action)) return 'users';
      return 'none';
    }
    default:
      return 'none';
  }
}

/** The pure part: completions of the last word of `line` given the known names. */
export function completeLine(line: string, names: { users: string[]; groups: string[] }): [string[], string] {
  if (!line.startsWith('/')) return [[], line];
  const parts = line.split(/\s+/);
  const word = parts[parts.length - 1];
  if (parts.length === 1) {
    const hits = COMMAND_NAMES.map((c) => `/${c}`).filter((c) => c.startsWith(word.toLowerCase()));
    return [hits, word];
  }
  const command = parts[0].slice(1).toLowerCase();
  const args = parts.slice(1, -1);
  const kind = argumentKind(command, args.length, args);
  const users = names.users.map(quoteArg);
  const groups = names.groups.map(quoteArg);
  let candidates: string[];
  switch (kind) {
    case 'users':
      candidates = users;
      break;
    case 'groups':
      candidates = groups;
      break;
    case 'targets':
      candidates = [...users, ...names.groups.map((g) => (quoteArg(g).startsWith('"') ? `"#${g.replace(/(["\\])/g, '\\$1')}"` : `#${g}`))];
      break;
    case 'commands':
      candidates = COMMAND_NAMES;
      break;
    case 'actions':
      candidates = [...GROUP_ACTIONS];
      break;
    default:
      candidates = [];
  }
  const hits = [...new Set(candidates)].filter((c) => c.startsWith(word)).sort();
  return [hits, word];
}

export class Completer {
  private users: string[] = [];
  private groups: string[] = [];
  private fetchedAt = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly chat: ChatClient,
    private readonly conversations: Conversations,
  ) {}

  /** Presence or membership changed: the next completion asks the server again. */
  invalidate(): void {
    this.fetchedAt = 0;
  }

  /** readline's async completer signature. */
  readonly complete = (line: string, callback: (err: Error | null, result: [string[], string]) => void): void => {
    const answer = (): void => callback(null, completeLine(line, this.names()));
    if (Date.now() - this.fetchedAt < REFRESH_MS || this.chat.closed || this.chat.reconnecting) return answer();
    void this.refresh().finally(answer);
  };

  private names(): { users: string[]; groups: string[] } {
    const known = this.conversations.names();
    const me = this.chat.user?.username;
    return {
      users: [...new Set([...this.users, ...known.users])].filter((u) => u !== me),
      groups: [...new Set([...this.groups, ...known.groups])],
    };
  }

  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const [who, groups] = await Promise.all([this.chat.who(), this.chat.groupList()]);
        this.users = [...new Set(who.map((u) => u.username))];
        this.groups = groups.map((g) => g.name);
        this.fetchedAt = Date.now();
      } catch {
        // Completion offers what it knew; the command itself will report the problem.
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}
