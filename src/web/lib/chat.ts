/**
 * The web client's state and behaviour, apart from any rendering: one WebSession at a time,
 * login, who is online, conversations (DMs and groups) with history paged backwards, pushes,
 * acknowledgements, automatic reconnect with back-off, group administration and files. The UI
 * (src/web/ui/) subscribes and calls methods; nothing here touches the DOM except through the
 * injected socket factory and the Blob download in files.ts.
 */
import type { SecureChatError } from '../../errors.js';
import type { CryptoProvider, SigningKey } from '../../protocol/crypto/provider.js';
import type { BrowserSocket } from '../../protocol/frame-link.js';
import type { AppMessage } from '../../protocol/types.js';
import { receiveFile, sendFile, type FileMeta, type Transfer } from './files.js';
import { WebSession, type ServerIdentity } from './session.js';

export interface ChatMessage {
  id: number;
  seq: number;
  conversation_id: number;
  kind: 'text' | 'file';
  from: string;
  to?: string;
  group?: string;
  text: string;
  file?: FileMeta;
  created_at: number;
}

export interface Conversation {
  /** `dm:NAME` or `group:NAME`. */
  key: string;
  kind: 'dm' | 'group';
  name: string;
  /** Ascending seq, no duplicates. */
  messages: ChatMessage[];
  /** Older messages exist on the server (history said `more`, or nothing was loaded yet). */
  more: boolean;
  loaded: boolean;
  unread: number;
}

export interface GroupSummary {
  id: number;
  name: string;
  role: string;
  member_count: number;
}

export interface GroupMember {
  uuid: string;
  username: string;
  role: string;
  online: boolean;
}

export type Phase = 'offline' | 'connecting' | 'login' | 'ready' | 'reconnecting';

export interface ChatState {
  phase: Phase;
  me: string | undefined;
  server: ServerIdentity | undefined;
  error: string | undefined;
  /** Online users (username → sessions). */
  online: Map<string, number>;
  conversations: Map<string, Conversation>;
  groups: GroupSummary[];
  active: string | undefined;
  members: GroupMember[];
  transfers: Transfer[];
  /** Short notices (group events, failures) for the status line. */
  notice: string | undefined;
  /** Texts written but not yet confirmed by the server (sent again after a reconnect). */
  outbox: number;
}

interface Outgoing {
  key: string;
  kind: 'dm' | 'group';
  name: string;
  text: string;
  clientMsgId: string;
}

export interface ChatOptions {
  makeSocket: () => BrowserSocket;
  provider: CryptoProvider;
  chain: Uint8Array[];
  privateKey: SigningKey;
  roots: Uint8Array[];
  serverName: string;
}

/** Reconnect back-off: 1 s doubling to 30 s, reset by a successful login. */
export const RECONNECT_MIN_MS = 1_000;
export const RECONNECT_MAX_MS = 30_000;
/** History page size (the server allows ≤ 200). */
export const HISTORY_PAGE = 50;
/** Texts waiting for a connection at most; the composer refuses more. */
export const MAX_OUTBOX = 100;
/** Messages kept per conversation in the page; older ones are dropped and re-fetched on scroll-back. */
export const MAX_MESSAGES_PER_CONVERSATION = 2_000;

export const dmKey = (user: string): string => `dm:${user}`;
export const groupKey = (group: string): string => `group:${group.toLowerCase()}`;

export class ChatModel {
  state: ChatState = {
    phase: 'offline', me: undefined, server: undefined, error: undefined, online: new Map(), conversations: new Map(),
    groups: [], active: undefined, members: [], transfers: [], notice: undefined, outbox: 0,
  };
  private session: WebSession | undefined;
  private readonly listeners = new Set<() => void>();
  private password: { value: string; register: boolean } | undefined;
  private backoff = RECONNECT_MIN_MS;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly ackTimers = new Map<number, { upto: number; timer: ReturnType<typeof setTimeout> }>();
  private readonly outbox: Outgoing[] = [];
  private readonly downloads = new Map<string, (meta: { offset: number }, data: Uint8Array) => void>();

  constructor(private readonly opts: ChatOptions) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(patch: Partial<ChatState>): void {
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn();
  }

  /** Opens the connection (handshake) and waits for the password. */
  async connect(): Promise<void> {
    this.stopped = false;
    this.set({ phase: this.password ? 'reconnecting' : 'connecting', error: undefined });
    let session: WebSession;
    try {
      session = await WebSession.connect(this.opts);
    } catch (err) {
      this.set({ error: describe(err) });
      // A server that fails validation stays refused: retrying would not change its certificate.
      const fatal = (err as { code?: string }).code === 'bad_certificate';
      if (this.password && !fatal) this.scheduleReconnect();
      else this.set({ phase: 'offline' });
      return;
    }
    this.session = session;
    session.onPush = (msg, data) => this.onPush(msg, data);
    session.onClose = (err) => this.onClosed(session, err);
    session.start();
    this.set({ server: session.server });
    if (this.password) await this.login(this.password.value, false);
    else this.set({ phase: 'login' });
  }

  async login(password: string, register: boolean): Promise<void> {
    const s = this.requireSession();
    try {
      const r = await s.request<{ user: { username: string } }>(register ? 'register' : 'login', { password });
      this.password = { value: password, register: false };
      this.backoff = RECONNECT_MIN_MS;
      this.set({ phase: 'ready', me: r.user.username, error: undefined });
      await this.refresh();
    } catch (err) {
      this.set({ error: describe(err), phase: 'login' });
      throw err;
    }
  }

  logout(): void {
    this.stopped = true;
    this.password = undefined;
    this.outbox.length = 0;
    clearTimeout(this.reconnectTimer);
    const s = this.session;
    this.session = undefined;
    if (s && !s.closed) {
      void s.request('logout').catch(() => undefined).finally(() => s.close());
    }
    this.set({ phase: 'offline', me: undefined, online: new Map(), conversations: new Map(), groups: [], active: undefined, members: [], outbox: 0 });
  }

  /** Who is online, my groups, and the open conversation's newest page (after login or reconnect). */
  private async refresh(): Promise<void> {
    await Promise.all([this.refreshWho(), this.refreshGroups()]);
    const active = this.state.active;
    if (active) await this.loadNewest(active);
    await this.flushOutbox();
  }

  async refreshWho(): Promise<void> {
    const r = await this.requireSession().request<{ users: Array<{ username: string }> }>('who');
    const online = new Map<string, number>();
    for (const u of r.users) online.set(u.username, (online.get(u.username) ?? 0) + 1);
    this.set({ online });
  }

  async refreshGroups(): Promise<void> {
    const r = await this.requireSession().request<{ groups: GroupSummary[] }>('group_list');
    const conversations = new Map(this.state.conversations);
    for (const g of r.groups) if (!conversations.has(groupKey(g.name))) conversations.set(groupKey(g.name), emptyConversation('group', g.name));
    this.set({ groups: r.groups, conversations });
  }

  // ---- conversations ----

  async open(kind: 'dm' | 'group', name: string): Promise<void> {
    const key = kind === 'dm' ? dmKey(name) : groupKey(name);
    this.ensure(key, kind, name);
    this.patchConversation(key, { unread: 0 });
    this.set({ active: key, members: [] });
    const c = this.state.conversations.get(key)!;
    if (!c.loaded) await this.loadNewest(key);
    if (kind === 'group') await this.loadMembers(name);
  }

  private ensure(key: string, kind: 'dm' | 'group', name: string): Conversation {
    let c = this.state.conversations.get(key);
    if (!c) {
      c = emptyConversation(kind, name);
      const conversations = new Map(this.state.conversations);
      conversations.set(key, c);
      this.set({ conversations });
    }
    return c;
  }

  private patchConversation(key: string, patch: Partial<Conversation>): void {
    const c = this.state.conversations.get(key);
    if (!c) return;
    const conversations = new Map(this.state.conversations);
    conversations.set(key, { ...c, ...patch });
    this.set({ conversations });
  }

  private target(c: Conversation): Record<string, string> {
    return c.kind === 'dm' ? { with: c.name } : { group: c.name };
  }

  private async loadNewest(key: string): Promise<void> {
    const c = this.state.conversations.get(key);
    if (!c) return;
    const r = await this.requireSession().request<{ messages: ChatMessage[]; more?: boolean }>('history', { ...this.target(c), limit: HISTORY_PAGE });
    const merged = mergeMessages(this.state.conversations.get(key)?.messages ?? [], r.messages);
    this.patchConversation(key, { messages: merged, more: r.more === true || r.messages.length === HISTORY_PAGE, loaded: true });
  }

  /** Scroll-back: the page before the oldest message shown. */
  async loadOlder(key: string): Promise<number> {
    const c = this.state.conversations.get(key);
    if (!c || !c.more) return 0;
    const before = c.messages[0]?.id;
    const r = await this.requireSession().request<{ messages: ChatMessage[]; more?: boolean }>('history', {
      ...this.target(c),
      limit: HISTORY_PAGE,
      ...(before !== undefined ? { before } : {}),
    });
    const merged = mergeMessages(c.messages, r.messages, true);
    this.patchConversation(key, { messages: merged, more: r.more === true || r.messages.length === HISTORY_PAGE });
    return r.messages.length;
  }

  /**
   * Sends a text to the open conversation. A send the connection took down with it stays in the
   * outbox with its client_msg_id and is sent again after the next login: the server stores a
   * retried key once (docs/MESSAGES.md, idempotent sends), so nothing is lost or doubled.
   */
  async sendText(text: string): Promise<void> {
    const c = this.activeConversation();
    if (!c || text.trim() === '') return;
    if (this.outbox.length >= MAX_OUTBOX) throw new Error(`${MAX_OUTBOX} messages are already waiting for the connection.`);
    const entry: Outgoing = { key: c.key, kind: c.kind, name: c.name, text, clientMsgId: clientMsgId() };
    this.outbox.push(entry);
    this.set({ outbox: this.outbox.length });
    await this.deliver(entry).catch((err) => {
      if (!this.session || this.session.closed) this.set({ notice: 'Not connected: the message is sent when the connection is back.' });
      else {
        this.drop(entry);
        throw err;
      }
    });
  }

  private drop(entry: Outgoing): void {
    const i = this.outbox.indexOf(entry);
    if (i >= 0) this.outbox.splice(i, 1);
    this.set({ outbox: this.outbox.length });
  }

  private async deliver(e: Outgoing): Promise<void> {
    const params = e.kind === 'dm' ? { to: e.name } : { group: e.name };
    const ack = await this.requireSession().request<{ id: number; seq: number; conversation_id: number; created_at: number }>(
      e.kind === 'dm' ? 'dm' : 'group_send',
      { ...params, text: e.text, client_msg_id: e.clientMsgId },
    );
    this.drop(e);
    this.ensure(e.key, e.kind, e.name);
    this.addMessage(e.key, {
      id: ack.id, seq: ack.seq, conversation_id: ack.conversation_id, kind: 'text', from: this.state.me ?? '', text: e.text, created_at: ack.created_at,
      ...(e.kind === 'dm' ? { to: e.name } : { group: e.name }),
    });
  }

  /** After a login: what the last connection could not confirm, in the order it was written. */
  private async flushOutbox(): Promise<void> {
    for (const e of [...this.outbox]) {
      try {
        await this.deliver(e);
      } catch (err) {
        if (!this.session || this.session.closed) return;
        this.drop(e);
        this.set({ notice: describe(err) });
      }
    }
  }

  activeConversation(): Conversation | undefined {
    return this.state.active ? this.state.conversations.get(this.state.active) : undefined;
  }

  private addMessage(key: string, m: ChatMessage): void {
    const c = this.state.conversations.get(key);
    if (!c) return;
    const unread = key === this.state.active || m.from === this.state.me ? c.unread : c.unread + 1;
    this.patchConversation(key, { messages: mergeMessages(c.messages, [m]), unread });
  }

  // ---- files ----

  async sendFile(file: File): Promise<void> {
    const c = this.activeConversation();
    if (!c) return;
    const s = this.requireSession();
    const transfer = await sendFile(s, c.kind === 'dm' ? { to: c.name } : { group: c.name }, file, () => this.set({ transfers: [...this.state.transfers] }), (t) =>
      this.set({ transfers: [...this.state.transfers, t] }),
    );
    const ack = transfer.result!;
    this.addMessage(c.key, {
      id: ack.id, seq: ack.seq, conversation_id: ack.conversation_id, kind: 'file', from: this.state.me ?? '', text: '', file: ack.file, created_at: ack.created_at,
      ...(c.kind === 'dm' ? { to: c.name } : { group: c.name }),
    });
  }

  /** Fetches a file message's content, checks its size and sha256, and hands back a Blob. */
  async download(m: ChatMessage): Promise<Blob> {
    if (!m.file) throw new Error('not a file message');
    const s = this.requireSession();
    return receiveFile(s, m, this.downloads, () => this.set({ transfers: [...this.state.transfers] }), (t) =>
      this.set({ transfers: [...this.state.transfers, t] }),
    );
  }

  // ---- groups ----

  async loadMembers(group: string): Promise<void> {
    const r = await this.requireSession().request<{ members: GroupMember[] }>('group_info', { group });
    this.set({ members: r.members });
  }

  async groupAction(action: 'group_create' | 'group_add' | 'group_remove' | 'group_promote' | 'group_demote' | 'group_leave', params: Record<string, string>): Promise<void> {
    await this.requireSession().request(action, params);
    await this.refreshGroups();
    if (action === 'group_create') await this.open('group', params.name);
    else if (action === 'group_leave') this.forgetConversation(groupKey(params.group));
    else if (params.group) await this.loadMembers(params.group);
  }

  private forgetConversation(key: string): void {
    const conversations = new Map(this.state.conversations);
    conversations.delete(key);
    this.set({ conversations, ...(this.state.active === key ? { active: undefined, members: [] } : {}) });
  }

  // ---- pushes ----

  private onPush(msg: AppMessage, data: Uint8Array | undefined): void {
    switch (msg.type) {
      case 'message': {
        const m = msg as unknown as ChatMessage;
        const me = this.state.me;
        const key = m.group !== undefined ? groupKey(m.group) : dmKey(m.from === me ? (m.to ?? '') : m.from);
        this.ensure(key, m.group !== undefined ? 'group' : 'dm', m.group ?? (m.from === me ? (m.to ?? '') : m.from));
        this.addMessage(key, m);
        this.scheduleAck(m.conversation_id, m.id);
        return;
      }
      case 'presence': {
        const online = new Map(this.state.online);
        const user = String(msg.user);
        if (msg.status === 'online') online.set(user, (online.get(user) ?? 0) + 1);
        else {
          const n = (online.get(user) ?? 1) - 1;
          if (n <= 0) online.delete(user);
          else online.set(user, n);
        }
        this.set({ online });
        return;
      }
      case 'group_event': {
        this.set({ notice: `${String(msg.by)} ${String(msg.event)} ${msg.user ? String(msg.user) + ' ' : ''}in ${String(msg.group)}` });
        void this.refreshGroups().catch(() => undefined);
        if ((msg.event === 'removed' || msg.event === 'deleted') && (msg.user === this.state.me || msg.event === 'deleted')) this.forgetConversation(groupKey(String(msg.group)));
        else if (this.state.active === groupKey(String(msg.group))) void this.loadMembers(String(msg.group)).catch(() => undefined);
        return;
      }
      case 'file_data': {
        const sink = this.downloads.get(String(msg.file));
        if (sink && data) sink({ offset: Number(msg.offset) }, data);
        return;
      }
      default:
        return;
    }
  }

  /** Acks are batched per conversation (the newest id wins): one request per burst, not per message. */
  private scheduleAck(conversationId: number, id: number): void {
    const pending = this.ackTimers.get(conversationId);
    if (pending) {
      pending.upto = Math.max(pending.upto, id);
      return;
    }
    const entry = {
      upto: id,
      timer: setTimeout(() => {
        this.ackTimers.delete(conversationId);
        void this.session?.request('ack', { conversation_id: conversationId, upto: entry.upto }).catch(() => undefined);
      }, 100),
    };
    this.ackTimers.set(conversationId, entry);
  }

  // ---- reconnect ----

  private onClosed(session: WebSession, err: SecureChatError | undefined): void {
    if (this.session !== session) return;
    this.session = undefined;
    if (this.stopped) return;
    this.set({ error: err ? describe(err) : 'The connection closed.', online: new Map() });
    if (err && ['account_disabled', 'credentials_changed', 'bad_certificate'].includes(err.code)) {
      this.password = undefined;
      this.set({ phase: 'offline' });
      return;
    }
    if (this.password) this.scheduleReconnect();
    else this.set({ phase: 'offline' });
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.set({ phase: 'reconnecting' });
    clearTimeout(this.reconnectTimer);
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => void this.connect(), wait);
  }

  /** A line for the status bar (failed actions, group events). */
  notify(text: string): void {
    this.set({ notice: text });
  }

  /** For tests and the "reconnect now" button: drop the socket as a network failure would. */
  dropConnection(): void {
    this.session?.close();
  }

  private requireSession(): WebSession {
    if (!this.session || this.session.closed) throw new Error('Not connected.');
    return this.session;
  }
}

function emptyConversation(kind: 'dm' | 'group', name: string): Conversation {
  return { key: kind === 'dm' ? dmKey(name) : groupKey(name), kind, name, messages: [], more: true, loaded: false, unread: 0 };
}

/** Union by message id, ascending seq; bounded (the oldest fall off unless `keepOld` for scroll-back). */
export function mergeMessages(have: ChatMessage[], incoming: ChatMessage[], keepOld = false): ChatMessage[] {
  const byId = new Map<number, ChatMessage>();
  for (const m of have) byId.set(m.id, m);
  for (const m of incoming) byId.set(m.id, m);
  const all = [...byId.values()].sort((a, b) => a.seq - b.seq);
  if (all.length <= MAX_MESSAGES_PER_CONVERSATION) return all;
  return keepOld ? all.slice(0, MAX_MESSAGES_PER_CONVERSATION) : all.slice(-MAX_MESSAGES_PER_CONVERSATION);
}

function clientMsgId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err) {
    const e = err as { code: string; message: string; reason?: string };
    return `${e.message} (${e.code}${e.reason ? `: ${e.reason}` : ''})`;
  }
  return String(err);
}
