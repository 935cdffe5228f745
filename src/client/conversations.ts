/**
 * Conversation mode, client side: the current conversation (`/query bob`, `/query #team`), where
 * plain lines go, and how many messages arrived in each other conversation since you last looked
 * at it (`/list`).
 *
 * "Unread" is this client's notion, not the server's: the server's cursor says what reached this
 * device (and is acknowledged once a message is printed), not what you read. A message counts as
 * unread when it arrived in a conversation other than the current one — including what the login
 * replay brought while you were away — and stops counting when you `/query` or `/history` that
 * conversation. Bounded: at most MAX_TRACKED conversations are remembered (oldest activity first out).
 */
import type { ChatMessage } from './chat-client.js';
import type { Target } from './commands.js';

export const MAX_TRACKED = 1000;

export interface ConversationEntry {
  /** `bob` for a DM, `#team` for a group. */
  key: string;
  kind: 'dm' | 'group';
  /** The user or group name (no `#`). */
  name: string;
  unread: number;
  /** Last activity seen by this client, ms since the epoch (0 = none yet). */
  last_at: number;
}

export function targetKey(t: Target): string {
  return 'group' in t ? `#${t.group}` : t.user;
}

/** The conversation a message belongs to, seen from `me`: the group, or the other party of the DM. */
export function messageTarget(m: Pick<ChatMessage, 'from' | 'to' | 'group'>, me: string): Target {
  if (m.group !== undefined) return { group: m.group };
  return { user: m.from === me ? (m.to ?? m.from) : m.from };
}

export class Conversations {
  private currentTarget: Target | null = null;
  private readonly entries = new Map<string, ConversationEntry>();

  constructor(private readonly me: () => string) {}

  get current(): Target | null {
    return this.currentTarget;
  }

  /** Sets (or with null, leaves) the current conversation; its unread count is cleared. */
  setCurrent(t: Target | null): void {
    this.currentTarget = t;
    if (t) this.markRead(t);
  }

  isCurrent(t: Target): boolean {
    return this.currentTarget !== null && targetKey(this.currentTarget) === targetKey(t);
  }

  /** An incoming (or own) message; returns whether it belongs to the current conversation. */
  noteMessage(m: Pick<ChatMessage, 'from' | 'to' | 'group' | 'created_at'>): boolean {
    const t = messageTarget(m, this.me());
    const e = this.touch(t, m.created_at);
    const here = this.isCurrent(t);
    if (!here && m.from !== this.me()) e.unread++;
    return here;
  }

  /** A conversation the user looked at (`/history`) or wrote to. */
  markRead(t: Target): void {
    this.touch(t, 0).unread = 0;
  }

  /** A group the server says we are in (so `/list` shows it with 0 unread). */
  knowGroup(name: string): void {
    this.touch({ group: name }, 0);
  }

  forgetGroup(name: string): void {
    this.entries.delete(`#${name}`);
    if (this.currentTarget && 'group' in this.currentTarget && this.currentTarget.group === name) this.currentTarget = null;
  }

  renameGroup(from: string, to: string): void {
    const e = this.entries.get(`#${from}`);
    if (e) {
      this.entries.delete(e.key);
      this.entries.set(`#${to}`, { ...e, key: `#${to}`, name: to });
    }
    if (this.currentTarget && 'group' in this.currentTarget && this.currentTarget.group === from) this.currentTarget = { group: to };
  }

  /** Every known conversation: unread first, then by last activity, then by name. */
  list(): ConversationEntry[] {
    return [...this.entries.values()].sort((a, b) => b.unread - a.unread || b.last_at - a.last_at || a.key.localeCompare(b.key));
  }

  /** Names known from conversations (completion). */
  names(): { users: string[]; groups: string[] } {
    const users: string[] = [];
    const groups: string[] = [];
    for (const e of this.entries.values()) (e.kind === 'group' ? groups : users).push(e.name);
    return { users, groups };
  }

  private touch(t: Target, at: number): ConversationEntry {
    const key = targetKey(t);
    let e = this.entries.get(key);
    if (!e) {
      e = { key, kind: 'group' in t ? 'group' : 'dm', name: 'group' in t ? t.group : t.user, unread: 0, last_at: at };
      if (this.entries.size >= MAX_TRACKED) this.evictOldest();
      this.entries.set(key, e);
    }
    if (at > e.last_at) e.last_at = at;
    return e;
  }

  private evictOldest(): void {
    let oldest: ConversationEntry | undefined;
    for (const e of this.entries.values()) if (!oldest || e.last_at < oldest.last_at) oldest = e;
    if (oldest) this.entries.delete(oldest.key);
  }
}
