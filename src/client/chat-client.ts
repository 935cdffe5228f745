/**
 * ChatClient: the typed chat API over SecureChatClient, used by the REPL, script mode, the demo,
 * benchmarks and soak. It owns the delivery contract of docs/MESSAGES.md on the client side.
 *
 * Everything the server pushes (messages, files, receipts, presence, group events, caught_up) is
 * held in an inbox until the application calls `consume(handler)`, then handed to the handler in
 * arrival order, one at a time. A message is acknowledged only after the handler returned (or its
 * promise resolved) and, with auto-fetch, after the file is on disk and its `file` event handled.
 * So logging in before the display is ready cannot lose anything: it just waits in the inbox.
 * Lifecycle events (close, warning, file_progress) are a separate namespace: `on(…)`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SecureChatError, toSecureChatError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { isCaughtUpPush } from '../protocol/caught-up.js';
import type { AppMessage } from '../protocol/types.js';
import { SecureChatClient, type ClientOptions, type ServerIdentity } from './client.js';
import { TicketStore } from './tickets.js';
import { ensureDir, placeDownload } from './downloads.js';
import { filesFromCertsDir, loadClientFiles, type ClientFiles } from './identity.js';
import { Inbox } from './inbox.js';
import { backoffDelay, isRetryableClose, type ReconnectOptions } from './reconnect.js';
import { clusterTicketScope, FailoverDialer, type Endpoint } from './failover.js';
import { SeenIds } from './seen-ids.js';
import { newClientMsgId } from './send-ids.js';

export interface UserRef {
  uuid: string;
  username: string;
}

export interface FileInfo {
  uuid: string;
  name: string;
  size: number;
  sha256: string;
}

/** A `message` push or a history entry: exactly one of `to` (DM recipient) or `group` is set. */
export interface ChatMessage {
  id: number;
  /** Position in the conversation: 1, 2, 3, … without gaps. */
  seq: number;
  conversation_id: number;
  kind: 'text' | 'file';
  from: string;
  from_uuid: string;
  to?: string;
  group?: string;
  text: string;
  file?: FileInfo;
  created_at: number;
}

export interface SentMessage {
  id: number;
  seq: number;
  conversation_id: number;
  created_at: number;
  /** The idempotency key of this send (retried with it after a reconnect). */
  client_msg_id?: string;
  /** The server had already stored this send (same client_msg_id): this is the first ack again. */
  duplicate?: true;
}

/** A fresh idempotency key for one send (docs/MESSAGES.md `client_msg_id`); reuse it only to retry that send. */
export { newClientMsgId };

export interface OnlineUser {
  uuid: string;
  username: string;
  ip: string;
}

export type GroupRole = 'owner' | 'admin' | 'member';

export interface GroupSummary {
  id: number;
  name: string;
  role: GroupRole;
  member_count: number;
}

export interface GroupInfo {
  group: { id: number; name: string };
  members: { uuid: string; username: string; role: GroupRole; online: boolean }[];
}

export interface DeliveredEvent {
  id: number;
  conversation_id: number;
  to: string;
}

export interface PresenceEvent {
  user: string;
  uuid: string;
  status: 'online' | 'offline';
}

export interface GroupEvent {
  group: string;
  /** `left`: `user` left by themselves (servers before it say `removed` with by = user or no by). */
  event: 'added' | 'removed' | 'left' | 'renamed' | 'deleted' | 'role';
  user?: string;
  role?: GroupRole;
  name?: string;
  /** Who made the change (username); absent from older servers. */
  by?: string;
}

/** A file that arrived and was saved (auto-fetch). */
export interface FileEvent {
  id: number;
  conversation_id: number;
  from: string;
  to?: string;
  group?: string;
  uuid: string;
  name: string;
  path: string;
  sha256: string;
  size: number;
}

export interface FileSent extends SentMessage {
  file: FileInfo;
}

export interface FetchedFile extends FileInfo {
  path: string;
}

export type Progress = (done: number, total: number | undefined) => void;

/** What the server told us, in arrival order, as `consume(handler)` receives it. */
export type ChatEvent =
  | { type: 'message'; message: ChatMessage }
  /** An auto-fetched file, saved and checked (follows its `message`). */
  | { type: 'file'; file: FileEvent }
  /** An auto-fetch that failed; the message was still shown, the file stays on the server. */
  | { type: 'file_error'; message: ChatMessage; error: SecureChatError }
  | { type: 'delivered'; delivered: DeliveredEvent }
  | { type: 'presence'; presence: PresenceEvent }
  | { type: 'group_event'; group_event: GroupEvent }
  /** The login replay is complete: `pending` messages were waiting (all handed over before this). */
  | { type: 'caught_up'; pending: number };

export type ChatEventHandler = (event: ChatEvent) => void | Promise<void>;

/** The client's own lifecycle, never a push: a push named `close` cannot pose as one. */
export interface ChatClientEvents {
  /** Download progress of auto-fetched files. */
  file_progress: [ev: { message: ChatMessage; done: number; total: number }];
  /** Something non-fatal went wrong in the background (an ack refused, a handler that threw). */
  warning: [err: SecureChatError];
  /** The connection dropped and the client is dialling again (reconnect enabled); requests wait. */
  reconnecting: [ev: { attempt: number; delayMs: number; error: SecureChatError | undefined }];
  /** Connected and logged in again; the server replays what was missed from our cursors. */
  reconnected: [ev: { attempts: number }];
  /** Final: the client is closed and will not reconnect. */
  close: [err: SecureChatError | undefined];
}

export interface ChatClientOptions {
  /** Directory to download incoming files into; a `file` event follows each saved file. */
  autoFetchFiles?: string;
  /**
   * Dial again after a dropped connection (backoff with jitter), log in again with the same
   * credentials, resend what had no answer (sends carry a client_msg_id, so a retry never stores
   * twice) and send what was asked meanwhile. Off unless given (`true` = the defaults).
   */
  reconnect?: boolean | ReconnectOptions;
  /** At most this many requests wait for the connection while reconnecting (default 100); more are refused. */
  maxQueuedRequests?: number;
  /** Resume reconnects with session tickets kept in memory (default true; docs/PROTOCOL.md §9). */
  resumption?: boolean;
  /**
   * The nodes of a cluster (failover.ts): each dial tries the node that worked last, then the
   * others in this order; tickets are shared by all of them. Overrides host/port; serverName
   * defaults to each node's host.
   */
  servers?: Endpoint[];
  /** Coalescing window for acks, ms. */
  ackDelayMs?: number;
  /** Ids remembered for duplicate suppression. */
  seenCapacity?: number;
  log?: Logger;
}

export interface ChatOpenOptions extends ChatClientOptions {
  host: string;
  port: number;
  serverName?: string;
  ca?: string;
  cert?: string;
  key?: string;
  keyPassphrase?: string;
  /** Shorthand: `certs` + `user` pick DIR/root_ca.pem, DIR/USER_cert.pem, DIR/USER_key.pem. */
  certs?: string;
  user?: string;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  requestTimeoutMs?: number;
}

const MAX_CHUNKS_IN_FLIGHT = 8;
const DRAIN_THRESHOLD = 1024 * 1024;

/** Resolves the file flags of `open`: explicit --ca/--cert/--key win over the --certs/--user shorthand. */
export function resolveClientFiles(o: Pick<ChatOpenOptions, 'ca' | 'cert' | 'key' | 'keyPassphrase' | 'certs' | 'user'>): ClientFiles {
  const short = o.certs && o.user ? filesFromCertsDir(o.certs, o.user) : undefined;
  const ca = o.ca ?? short?.ca;
  const cert = o.cert ?? short?.cert;
  const key = o.key ?? short?.key;
  if (!ca || !cert || !key) {
    throw new SecureChatError('usage', 'Give --ca, --cert and --key, or the shorthand --certs DIR --user NAME.');
  }
  return { ca, cert, key, ...(o.keyPassphrase !== undefined ? { keyPassphrase: o.keyPassphrase } : {}) };
}

/** Requests that may be sent again after the connection dropped before their answer. */
const SAFE_TO_RESEND: ReadonlySet<string> = new Set(['who', 'history', 'group_list', 'group_info', 'ack']);
/** Sends made idempotent by their client_msg_id. */
const IDEMPOTENT_SENDS: ReadonlySet<string> = new Set(['dm', 'group_send', 'file_complete']);

type Dialer = () => Promise<SecureChatClient>;

export class ChatClient extends EventEmitter<ChatClientEvents> {
  private conn: SecureChatClient;
  private readonly dialer: Dialer | undefined;
  private currentUser: UserRef | null = null;
  /** What login/register was given, to log in again after a reconnect (memory only). */
  private credentials: { password: string; username?: string } | undefined;
  private state: 'connected' | 'reconnecting' | 'closed' = 'connected';
  private closing = false;
  private closeError: SecureChatError | undefined;
  private waitingForConnection: { resolve: () => void; reject: (err: SecureChatError) => void }[] = [];
  /** Whether the server accepts client_msg_id (unknown until the first send says). */
  private msgIdSupported: boolean | undefined;
  private readonly inbox: Inbox<ChatEvent>;
  private caughtUpWaiters: (() => void)[] = [];
  private caughtUpCount: number | null = null;
  /** Conversations whose handler failed: nothing more is acknowledged there in this session. */
  private readonly poisoned = new Set<number>();
  private readonly seen: SeenIds;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Per conversation: the work (display, download) that must finish before its ack. */
  private readonly convChains = new Map<number, Promise<void>>();
  private readonly pendingAcks = new Map<number, number>();
  private readonly ackedUpto = new Map<number, number>();
  /** Per conversation: the highest id whose handling (display, download) has finished. */
  private readonly handledUpto = new Map<number, number>();
  private ackTimer: NodeJS.Timeout | null = null;
  private fetchQueue: Promise<unknown> = Promise.resolve();
  private readonly ackDelayMs: number;
  private readonly log: Logger;

  /** `dialer` makes a new connection for reconnects (ChatClient.connect/open pass one). */
  constructor(
    connection: SecureChatClient,
    private readonly options: ChatClientOptions = {},
    dialer?: Dialer,
  ) {
    super();
    this.conn = connection;
    this.dialer = dialer;
    this.seen = new SeenIds(options.seenCapacity);
    this.ackDelayMs = options.ackDelayMs ?? 20;
    this.log = options.log ?? silentLogger();
    this.inbox = new Inbox<ChatEvent>((err) => this.emit('warning', toSecureChatError(err)));
    this.attach(connection);
  }

  /** Connects with an identity already in memory (benchmarks, tests). */
  static async connect(options: ClientOptions & ChatClientOptions): Promise<ChatClient> {
    // Tickets in memory, so reconnects resume (docs/PROTOCOL.md §9); `tickets: undefined` is not a way to turn it off: use resumption: false.
    const tickets = options.resumption === false ? undefined : (options.tickets ?? new TicketStore<ServerIdentity>());
    const servers = options.servers && options.servers.length > 0 ? options.servers : undefined;
    const ticketScope = options.ticketScope ?? (servers ? clusterTicketScope(servers) : undefined);
    const dialOptions = { ...options, ...(tickets ? { tickets } : {}), ...(ticketScope ? { ticketScope } : {}) };
    if (servers) {
      const failover = new FailoverDialer(servers, (ep) => SecureChatClient.connect({ ...dialOptions, host: ep.host, port: ep.port, serverName: options.serverName ?? ep.host }));
      const dial = (): Promise<SecureChatClient> => failover.dial();
      const chat = new ChatClient(await dial(), options, dial);
      chat.failover = failover;
      return chat;
    }
    const dial = (): Promise<SecureChatClient> => SecureChatClient.connect(dialOptions);
    return new ChatClient(await dial(), options, dial);
  }

  private failover: FailoverDialer<SecureChatClient> | undefined;

  /** The server (cluster node) of the current connection, when the client was given several. */
  get server(): Endpoint | undefined {
    return this.failover?.current;
  }

  /** The current connection (a new one after each reconnect). */
  get connection(): SecureChatClient {
    return this.conn;
  }

  /** True while the client is dialling again after a dropped connection. */
  get reconnecting(): boolean {
    return this.state === 'reconnecting';
  }

  /** Loads the identity and trust from files (`--ca/--cert/--key` or `--certs/--user`), then connects. */
  static async open(opts: ChatOpenOptions): Promise<ChatClient> {
    const { identity, trust } = loadClientFiles(resolveClientFiles(opts));
    return ChatClient.connect({ ...opts, identity, trust });
  }

  /** Closed for good (by close(), or a drop without reconnect); not while reconnecting. */
  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Why the client closed, when a connection error ended it. */
  get closeReason(): SecureChatError | undefined {
    return this.closeError;
  }

  /** Who we are logged in as (null before login/register and after logout). */
  get user(): UserRef | null {
    return this.currentUser;
  }

  /**
   * Starts (or adds) a consumer of the pushes. Until the first consumer is attached — and whenever
   * none is — pushes wait in the inbox, unacknowledged. Events go to every consumer, in order, one
   * at a time: the next waits until the handlers of this one returned or resolved. A handler must
   * not wait for `idle()` or `caughtUp()` itself (they wait for it). Returns the unsubscribe.
   */
  consume(handler: ChatEventHandler): () => void {
    return this.inbox.consume(handler);
  }

  /**
   * Resolves with the number of messages the login replay delivered, once the server said it is
   * complete (`caught_up`) and every event before it has been handled by the consumers.
   */
  caughtUp(): Promise<number> {
    if (this.caughtUpCount !== null) return Promise.resolve(this.caughtUpCount);
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(this.closeError ?? new SecureChatError('connection_closed'));
        return;
      }
      const onClose = (err: SecureChatError | undefined): void => reject(err ?? new SecureChatError('connection_closed'));
      this.once('close', onClose);
      this.caughtUpWaiters.push(() => {
        this.off('close', onClose);
        resolve(this.caughtUpCount ?? 0);
      });
    });
  }

  close(): void {
    this.closing = true;
    if (this.state === 'reconnecting') this.finish(undefined);
    this.conn.close();
  }

  // --- accounts ---

  async register(password: string, username?: string): Promise<UserRef> {
    const r = await this.call<{ user: UserRef }>('register', { password, ...(username ? { username } : {}) });
    this.credentials = { password, ...(username ? { username } : {}) };
    this.startSession(r.user);
    return r.user;
  }

  async login(password: string, username?: string): Promise<UserRef> {
    const r = await this.call<{ user: UserRef }>('login', { password, ...(username ? { username } : {}) });
    this.credentials = { password, ...(username ? { username } : {}) };
    this.startSession(r.user);
    return r.user;
  }

  /**
   * When this connection resumed with a ticket that carries a login (a `--ticket-file` from an
   * earlier run) for `username` (any user when omitted), takes that login instead of a password
   * round and returns the user; null otherwise. With `password` the client can still log in after
   * a later reconnect that cannot resume; without it such a reconnect ends with `auth_failed`.
   */
  adoptResumedLogin(username?: string, password?: string): UserRef | null {
    const resumed = this.conn.resumedLogin;
    if (!resumed || (username !== undefined && resumed.username !== username)) return null;
    if (password !== undefined) this.credentials = { password, ...(username ? { username } : {}) };
    // Not startSession(): the replay of this session may already be under way (its caught_up counts).
    this.currentUser = { uuid: resumed.uuid, username: resumed.username };
    return this.currentUser;
  }

  async logout(): Promise<void> {
    await this.idle();
    await this.call('logout');
    // Tickets issued while logged in would resume logged in: gone with the logout.
    this.conn.forgetTickets();
    this.currentUser = null;
    this.credentials = undefined;
  }

  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    await this.call('change_password', { old_password: oldPassword, new_password: newPassword });
    if (this.credentials) this.credentials = { ...this.credentials, password: newPassword };
  }

  // --- presence and messages ---

  async who(): Promise<OnlineUser[]> {
    return (await this.call<{ users: OnlineUser[] }>('who')).users;
  }

  /** Resolves once the server has durably stored the message. Pass the first try's `clientMsgId` to retry a send yourself. */
  dm(to: string, text: string, clientMsgId: string = newClientMsgId()): Promise<SentMessage> {
    return this.send<SentMessage>('dm', { to, text }, clientMsgId);
  }

  async history(q: { with?: string; group?: string; before?: number; limit?: number }): Promise<ChatMessage[]> {
    const params: Record<string, unknown> = {};
    if (q.with !== undefined) params.with = q.with;
    if (q.group !== undefined) params.group = q.group;
    if (q.before !== undefined) params.before = q.before;
    if (q.limit !== undefined) params.limit = q.limit;
    return (await this.call<{ messages: ChatMessage[] }>('history', params)).messages;
  }

  // --- groups ---

  async groupCreate(name: string): Promise<{ id: number; name: string }> {
    return (await this.call<{ group: { id: number; name: string } }>('group_create', { name })).group;
  }

  async groupList(): Promise<GroupSummary[]> {
    return (await this.call<{ groups: GroupSummary[] }>('group_list')).groups;
  }

  groupInfo(group: string): Promise<GroupInfo> {
    return this.call<GroupInfo>('group_info', { group });
  }

  async groupAdd(group: string, user: string): Promise<void> {
    await this.call('group_add', { group, user });
  }

  async groupRemove(group: string, user: string): Promise<void> {
    await this.call('group_remove', { group, user });
  }

  async groupPromote(group: string, user: string): Promise<void> {
    await this.call('group_promote', { group, user });
  }

  async groupDemote(group: string, user: string): Promise<void> {
    await this.call('group_demote', { group, user });
  }

  groupLeave(group: string): Promise<{ deleted: boolean; new_owner?: string }> {
    return this.call('group_leave', { group });
  }

  async groupRename(group: string, name: string): Promise<void> {
    await this.call('group_rename', { group, name });
  }

  async groupDelete(group: string): Promise<void> {
    await this.call('group_delete', { group });
  }

  groupSend(group: string, text: string, clientMsgId: string = newClientMsgId()): Promise<SentMessage> {
    return this.send<SentMessage>('group_send', { group, text }, clientMsgId);
  }

  // --- files ---

  /**
   * Offers the file (refused before any data moves if too large or not allowed), streams it in
   * binary chunks with a bounded number in flight, and resolves when the server has checked the
   * sha256 and stored it.
   */
  async sendFile(opts: { to?: string; group?: string; path: string; name?: string; onProgress?: Progress; clientMsgId?: string }): Promise<FileSent> {
    if ((opts.to === undefined) === (opts.group === undefined)) {
      throw new SecureChatError('usage', 'sendFile needs exactly one of `to` or `group`.');
    }
    const fh = await openForReading(opts.path);
    try {
      const stat = await fh.stat();
      if (!stat.isFile()) throw new SecureChatError('bad_input', `${opts.path} is not a regular file.`);
      const size = stat.size;
      const sha256 = await hashFile(fh, size, opts.path);
      const clientMsgId = opts.clientMsgId ?? newClientMsgId();
      // An upload lives in one server session: after a drop it starts over on the new connection,
      // and file_complete's client_msg_id makes sure the file is stored once however often we try.
      for (;;) {
        const conn = await this.connected();
        try {
          return await this.uploadOnce(conn, fh, { ...opts, size, sha256, clientMsgId });
        } catch (err) {
          if (!this.lostWhileReconnecting(conn)) throw err;
        }
      }
    } finally {
      await fh.close();
    }
  }

  private async uploadOnce(
    conn: SecureChatClient,
    fh: FileHandle,
    o: { to?: string; group?: string; path: string; name?: string; onProgress?: Progress; size: number; sha256: string; clientMsgId: string },
  ): Promise<FileSent> {
    const target = o.to !== undefined ? { to: o.to } : { group: o.group };
    const offer = await this.track(conn.request<{ transfer_id: string; chunk_size: number }>('file_offer', { ...target, name: o.name ?? basename(o.path), size: o.size, sha256: o.sha256 }));
    const chunkSize = offer.chunk_size;
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new SecureChatError('malformed', 'The server sent an invalid chunk_size.');
    o.onProgress?.(0, o.size);
    let acked = 0;
    const window = new Set<Promise<unknown>>();
    for (let offset = 0; offset < o.size; offset += chunkSize) {
      const len = Math.min(chunkSize, o.size - offset);
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(buf, 0, len, offset);
      if (bytesRead !== len) throw new SecureChatError('io_error', `${o.path} changed while it was being sent.`);
      const p = this.track(conn.request('file_chunk', { transfer_id: offer.transfer_id, offset }, buf)).then(() => {
        acked += len;
        o.onProgress?.(acked, o.size);
      });
      p.catch(() => undefined); // awaited below; this only keeps a failed sibling from going unhandled
      window.add(p);
      void p.finally(() => window.delete(p)).catch(() => undefined);
      if (window.size >= MAX_CHUNKS_IN_FLIGHT) await Promise.race(window);
      if (conn.bufferedBytes > DRAIN_THRESHOLD) await conn.waitForDrain();
    }
    await Promise.all(window);
    return await this.track(this.sendOn<FileSent>(conn, 'file_complete', { transfer_id: offer.transfer_id }, o.clientMsgId));
  }

  /**
   * Downloads the file carried by message `messageId` into `destDir` under a sanitised,
   * non-colliding name, after checking its size and sha256 (and, when `expect` is given, that it
   * is the file the message announced). Returns where it was written; nothing is left behind on
   * failure. Accepts a file message directly: `fetchFile(msg, dir)`.
   */
  async fetchFile(
    message: number | Pick<ChatMessage, 'id' | 'file'>,
    destDir: string,
    opts: { onProgress?: Progress; expect?: FileInfo } = {},
  ): Promise<FetchedFile> {
    const messageId = typeof message === 'number' ? message : message.id;
    const expect = opts.expect ?? (typeof message === 'number' ? undefined : message.file);
    // file_data pushes carry only the file uuid, so downloads take turns: one file_get at a time.
    const run = this.fetchQueue.catch(() => undefined).then(() => this.fetchOnce(messageId, destDir, opts.onProgress, expect));
    this.fetchQueue = run;
    return run;
  }

  /** Sends pending acks now and resolves when every request made so far has its response. */
  async idle(): Promise<void> {
    while (true) {
      if (this.ackTimer) {
        clearTimeout(this.ackTimer);
        this.ackTimer = null;
      }
      // Without a consumer the inbox cannot move: don't wait for conversations stuck behind it.
      const stuck = this.inbox.hasConsumers ? new Set<number>() : this.conversationsInInbox();
      const chains = [...this.convChains].filter(([conv]) => !stuck.has(conv)).map(([, chain]) => chain);
      if (this.inflight.size === 0 && chains.length === 0 && this.pendingAcks.size === 0) return;
      this.flushAcks();
      await Promise.allSettled([...this.inflight, ...chains]);
      if (this.closed) return;
    }
  }

  // --- connection, reconnect and requests ---

  private attach(conn: SecureChatClient): void {
    this.conn = conn;
    conn.on('push', (msg: AppMessage) => {
      if (this.conn === conn) this.onPush(msg);
    });
    conn.on('close', (err?: SecureChatError) => this.onConnectionClose(conn, err));
  }

  private get reconnectOptions(): ReconnectOptions | undefined {
    const r = this.options.reconnect;
    if (!r) return undefined;
    return r === true ? {} : r;
  }

  private onConnectionClose(conn: SecureChatClient, err: SecureChatError | undefined): void {
    // While reconnecting, the loop itself sees its attempts fail.
    if (conn !== this.conn || this.state === 'reconnecting') return;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    const canRetry = !this.closing && this.dialer !== undefined && this.reconnectOptions !== undefined && (this.credentials !== undefined || this.currentUser !== null) && isRetryableClose(err);
    if (!canRetry) {
      this.finish(err);
      return;
    }
    this.state = 'reconnecting';
    void this.reconnectLoop(err);
  }

  /** Closed for good: every waiting request fails, `close` is emitted once. */
  private finish(err: SecureChatError | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeError = err;
    const reason = err ?? new SecureChatError('connection_closed');
    const waiting = this.waitingForConnection;
    this.waitingForConnection = [];
    for (const w of waiting) w.reject(reason);
    this.emit('close', err);
  }

  private async reconnectLoop(lastError: SecureChatError | undefined): Promise<void> {
    const o = this.reconnectOptions ?? {};
    const dial = this.dialer as Dialer;
    for (let attempt = 0; ; attempt++) {
      if (this.closing) return;
      if (o.maxAttempts !== undefined && attempt >= o.maxAttempts) {
        this.finish(lastError ?? new SecureChatError('connection_closed', `Gave up reconnecting after ${attempt} attempts.`));
        return;
      }
      const delayMs = backoffDelay(attempt, o);
      this.emit('reconnecting', { attempt: attempt + 1, delayMs, error: lastError });
      await new Promise((r) => setTimeout(r, delayMs));
      if (this.closing) return;
      let conn: SecureChatClient;
      try {
        conn = await dial();
      } catch (err) {
        lastError = toSecureChatError(err);
        if (!isRetryableClose(lastError)) {
          this.finish(lastError);
          return;
        }
        continue;
      }
      if (this.closing) {
        conn.close();
        return;
      }
      // Listen before logging in: the server replays what we missed right after the login.
      this.attach(conn);
      try {
        if (conn.resumedLogin && conn.resumedLogin.username === this.currentUser?.username) {
          // Resumed logged in (the ticket carried the login): no password round, no scrypt on the server.
          this.currentUser = { uuid: conn.resumedLogin.uuid, username: conn.resumedLogin.username };
        } else {
          const creds = this.credentials;
          if (!creds) throw new SecureChatError('auth_failed', 'The saved session could not be resumed and no password is known to this run: start securechat chat again to log in.');
          const r = await conn.request<{ user: UserRef }>('login', { password: creds.password, ...(creds.username ? { username: creds.username } : {}) });
          this.currentUser = r.user;
        }
      } catch (err) {
        conn.close();
        lastError = toSecureChatError(err);
        if (!isRetryableClose(lastError)) {
          this.finish(lastError);
          return;
        }
        continue;
      }
      if (conn.closed) {
        lastError = conn.closeReason;
        continue;
      }
      // The server's cursors are the truth now: what we acked may not have reached it.
      this.ackedUpto.clear();
      this.state = 'connected';
      const waiting = this.waitingForConnection;
      this.waitingForConnection = [];
      for (const w of waiting) w.resolve();
      this.emit('reconnected', { attempts: attempt + 1 });
      if (this.pendingAcks.size > 0) this.flushAcks();
      return;
    }
  }

  /** The live connection: at once when connected, after the reconnect while reconnecting. */
  private connected(): Promise<SecureChatClient> {
    if (this.state === 'connected') return Promise.resolve(this.conn);
    if (this.state === 'closed') return Promise.reject(this.closeError ?? new SecureChatError('connection_closed'));
    const max = this.options.maxQueuedRequests ?? 100;
    if (this.waitingForConnection.length >= max) {
      return Promise.reject(new SecureChatError('connection_closed', `Reconnecting; ${max} requests are already waiting, so this one was not queued. Try again once reconnected.`));
    }
    return new Promise<SecureChatClient>((resolve, reject) => {
      this.waitingForConnection.push({ resolve: () => resolve(this.conn), reject });
    });
  }

  /** True when `conn` died and the client is dialling again (or already has a newer one): worth another try. */
  private lostWhileReconnecting(conn: SecureChatClient): boolean {
    return conn.closed && this.state !== 'closed';
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const untrack = (): void => {
      this.inflight.delete(p);
    };
    p.then(untrack, untrack);
    return p;
  }

  /**
   * Every request goes through here, so `idle()` can wait for all of them. While reconnecting it
   * waits for the new connection. If the connection drops before the answer, a request that is
   * safe to repeat is sent again on the new one; any other fails with a message saying that it may
   * or may not have been done.
   */
  private call<T = unknown>(type: string, params: Record<string, unknown> = {}, data?: Buffer): Promise<T> {
    return this.track(
      (async () => {
        for (;;) {
          const conn = await this.connected();
          try {
            return await conn.request<T>(type, params, data);
          } catch (err) {
            if (!this.lostWhileReconnecting(conn)) throw err;
            if (SAFE_TO_RESEND.has(type)) continue;
            throw new SecureChatError('connection_closed', `The connection dropped before the server answered "${type}"; it may or may not have been done — check, then retry.`, { cause: err });
          }
        }
      })(),
    );
  }

  /** dm / group_send with an idempotency key: resent after a reconnect, stored once. */
  private send<T>(type: string, params: Record<string, unknown>, clientMsgId: string): Promise<T> {
    return this.track(
      (async () => {
        for (;;) {
          const conn = await this.connected();
          try {
            return await this.sendOn<T>(conn, type, params, clientMsgId);
          } catch (err) {
            if (!this.lostWhileReconnecting(conn)) throw err;
            if (this.msgIdSupported === false) {
              throw new SecureChatError('connection_closed', `The connection dropped before the server confirmed "${type}"; this server cannot deduplicate a retry, so it was not resent — check /history.`, { cause: err });
            }
          }
        }
      })(),
    );
  }

  /** One attempt of an idempotent send on `conn`; falls back to no key on a server that refuses the field. */
  private async sendOn<T>(conn: SecureChatClient, type: string, params: Record<string, unknown>, clientMsgId: string): Promise<T> {
    if (this.msgIdSupported !== false && IDEMPOTENT_SENDS.has(type)) {
      try {
        const r = await conn.request<T>(type, { ...params, client_msg_id: clientMsgId });
        this.msgIdSupported = true;
        return { ...r, client_msg_id: clientMsgId };
      } catch (err) {
        const e = toSecureChatError(err);
        // Only an older server that does not know the field at all gets the send without a key;
        // a key refused for another reason (reused for different content) is the caller's error.
        const unknownField = e.code === 'bad_request' && e.details?.field === 'client_msg_id' && e.reason === undefined && /not allowed/.test(e.message);
        if (!unknownField) throw err;
        this.msgIdSupported = false;
      }
    }
    return conn.request<T>(type, params);
  }

  // --- internals ---

  private conversationsInInbox(): Set<number> {
    const convs = new Set<number>();
    for (const event of this.inbox.waiting()) {
      if (event.type === 'message' || event.type === 'file_error') convs.add(event.message.conversation_id);
      else if (event.type === 'file') convs.add(event.file.conversation_id);
    }
    return convs;
  }

  private startSession(user: UserRef): void {
    this.currentUser = user;
    this.caughtUpCount = null;
  }

  private onPush(msg: AppMessage): void {
    switch (msg.type) {
      case 'message':
        this.onMessage(msg as unknown as ChatMessage);
        return;
      case 'delivered':
        void this.enqueue({ type: 'delivered', delivered: msg as unknown as DeliveredEvent }).catch(() => undefined);
        return;
      case 'presence':
        void this.enqueue({ type: 'presence', presence: msg as unknown as PresenceEvent }).catch(() => undefined);
        return;
      case 'group_event':
        void this.enqueue({ type: 'group_event', group_event: msg as unknown as GroupEvent }).catch(() => undefined);
        return;
      case 'caught_up':
        if (!isCaughtUpPush(msg)) return;
        void this.enqueue({ type: 'caught_up', pending: msg.pending }).then(
          () => this.markCaughtUp(msg.pending),
          () => this.markCaughtUp(msg.pending),
        );
        return;
      default:
        // file_data answers our own file_get (see fetchOnce); anything else is not ours to show.
        return;
    }
  }

  private markCaughtUp(pending: number): void {
    this.caughtUpCount = pending;
    const waiters = this.caughtUpWaiters;
    this.caughtUpWaiters = [];
    for (const w of waiters) w();
  }

  /** Queues an event for the consumers; resolves once they have all handled it. */
  private enqueue(event: ChatEvent): Promise<void> {
    return this.inbox.enqueue(event);
  }

  private onMessage(msg: ChatMessage): void {
    if (!Number.isSafeInteger(msg.id) || !Number.isSafeInteger(msg.conversation_id)) {
      this.log.warn('message push without a valid id ignored');
      return;
    }
    if (!this.seen.add(msg.id)) {
      // Replayed after a reconnect because our ack did not reach the server: acknowledge it again
      // (only if it was handled; otherwise its own chain acknowledges it when done).
      if (msg.id <= (this.handledUpto.get(msg.conversation_id) ?? 0)) this.scheduleAck(msg.conversation_id, msg.id);
      return;
    }
    const shown = this.enqueue({ type: 'message', message: msg });
    const conv = msg.conversation_id;
    const prev = this.convChains.get(conv) ?? Promise.resolve();
    const dir = this.options.autoFetchFiles;
    const chain = prev
      .then(() => shown)
      .then(async () => {
        if (msg.kind === 'file' && msg.file && dir !== undefined) await this.autoFetch(msg, msg.file, dir);
      })
      .then(
        () => {
          if (msg.id > (this.handledUpto.get(conv) ?? 0)) this.handledUpto.set(conv, msg.id);
          this.scheduleAck(conv, msg.id);
        },
        () => {
          // The application did not handle it: acknowledging a later id would skip this one.
          this.poisoned.add(conv);
        },
      );
    this.convChains.set(conv, chain);
    void chain.finally(() => {
      if (this.convChains.get(conv) === chain) this.convChains.delete(conv);
    });
  }

  /** Downloads the file, then hands `file` (or `file_error`) to the consumers; a handler's failure propagates. */
  private async autoFetch(msg: ChatMessage, file: FileInfo, dir: string): Promise<void> {
    let got: FetchedFile;
    for (;;) {
      try {
        got = await this.fetchFile(msg.id, dir, {
          onProgress: (done, total) => this.emit('file_progress', { message: msg, done, total: total ?? file.size }),
          expect: file,
        });
        break;
      } catch (err) {
        // A download cut by a dropped connection starts over once we are back.
        if (err instanceof SecureChatError && err.details?.connectionLost === true && this.state !== 'closed') continue;
        await this.enqueue({ type: 'file_error', message: msg, error: toSecureChatError(err) });
        return;
      }
    }
    const saved: FileEvent = {
      id: msg.id,
      conversation_id: msg.conversation_id,
      from: msg.from,
      ...(msg.to !== undefined ? { to: msg.to } : {}),
      ...(msg.group !== undefined ? { group: msg.group } : {}),
      uuid: got.uuid,
      name: got.name,
      path: got.path,
      sha256: got.sha256,
      size: got.size,
    };
    await this.enqueue({ type: 'file', file: saved });
  }

  private scheduleAck(conv: number, id: number): void {
    if (this.closed || this.poisoned.has(conv)) return;
    if (id > (this.pendingAcks.get(conv) ?? 0)) this.pendingAcks.set(conv, id);
    if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = null;
        this.flushAcks();
      }, this.ackDelayMs);
    }
  }

  private flushAcks(): void {
    if (this.closed) {
      this.pendingAcks.clear();
      return;
    }
    for (const [conv, upto] of this.pendingAcks) {
      if (upto <= (this.ackedUpto.get(conv) ?? 0)) continue;
      this.ackedUpto.set(conv, upto);
      this.call('ack', { conversation_id: conv, upto }).catch((err: unknown) => {
        if (!this.closed) this.emit('warning', toSecureChatError(err));
      });
    }
    this.pendingAcks.clear();
  }

  private async fetchOnce(messageId: number, destDir: string, onProgress: Progress | undefined, expect: FileInfo | undefined): Promise<FetchedFile> {
    ensureDir(destDir);
    const tmp = join(destDir, `.securechat-${randomBytes(8).toString('hex')}.part`);
    let fd: number;
    try {
      fd = openSync(tmp, 'wx');
    } catch (err) {
      throw new SecureChatError('io_error', `Cannot write into ${destDir}: ${(err as Error).message}`, { cause: err });
    }
    const hash = createHash('sha256');
    let received = 0;
    let failure: SecureChatError | undefined;
    let uuid = expect?.uuid;
    const onData = (msg: AppMessage, data?: Buffer): void => {
      if (failure) return;
      // Only our file_get is in flight, so the first chunk names the file when we did not know it.
      if (uuid === undefined && msg.offset === 0 && typeof msg.file === 'string') uuid = msg.file;
      if (msg.file !== uuid) return;
      if (msg.offset !== received || !data) {
        failure = new SecureChatError('malformed', `File data of message ${messageId} arrived out of order.`);
        return;
      }
      try {
        writeSync(fd, data);
      } catch (err) {
        failure = new SecureChatError('io_error', `Cannot write ${tmp}: ${(err as Error).message}`, { cause: err });
        return;
      }
      hash.update(data);
      received += data.length;
      onProgress?.(received, expect?.size);
    };
    const conn = await this.connected().catch((err: unknown) => {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    });
    const offData = conn.onPush('file_data', onData);
    let closed = false;
    try {
      let file: FileInfo;
      try {
        ({ file } = await this.track(conn.request<{ file: FileInfo }>('file_get', { message_id: messageId, ...(expect ? { file: expect.uuid } : {}) })));
      } catch (err) {
        if (!this.lostWhileReconnecting(conn)) throw err;
        throw new SecureChatError('connection_closed', `The connection dropped while message ${messageId}'s file was downloading.`, { cause: err, details: { connectionLost: true } });
      }
      if (failure) throw failure;
      const digest = hash.digest('hex');
      if (received !== file.size || digest !== file.sha256.toLowerCase()) {
        throw new SecureChatError('checksum_mismatch', `Downloaded ${received} bytes with sha256 ${digest}; expected ${file.size} bytes, ${file.sha256}.`);
      }
      if (expect && (expect.size !== file.size || expect.sha256.toLowerCase() !== digest)) {
        throw new SecureChatError('checksum_mismatch', `The file differs from the one announced (${expect.sha256}).`);
      }
      closeSync(fd);
      closed = true;
      const path = placeDownload(tmp, destDir, file.name);
      return { ...file, sha256: digest, path };
    } catch (err) {
      if (!closed) closeSync(fd);
      closed = true;
      rmSync(tmp, { force: true });
      throw err;
    } finally {
      if (!closed) closeSync(fd);
      offData();
    }
  }
}

async function openForReading(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new SecureChatError('io_error', `The file ${path} ${why}.`, { cause: err });
  }
}

async function hashFile(fh: FileHandle, size: number, path: string): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 1024 * 1024));
  for (let pos = 0; pos < size; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) throw new SecureChatError('io_error', `${path} shrank while it was being read.`);
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash.digest('hex');
}
