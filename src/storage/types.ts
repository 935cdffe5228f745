/**
 * The storage interface. Handlers depend on this file only, never on a driver; the SQLite and the
 * MySQL backends both pass the shared contract suite (test/contract/storage.contract.ts).
 *
 * Conventions:
 * - Internal ids are numbers (BIGINT auto-increment, well inside 2^53); the public identity of a user
 *   or a file is its `uuid`. Times are milliseconds since the epoch.
 * - Usernames keep the case they were registered with (= the certificate CN) but are unique
 *   case-insensitively, and `getUserByName` matches case-insensitively, so "Alice" and "alice" can
 *   never be two accounts. Group names follow the same rule.
 * - Every method rejects with SecureChatError: `storage_unavailable` when the database cannot be
 *   reached or written (nothing was stored), `exists` on a uniqueness conflict, `not_found` when an
 *   id that must exist does not. Anything else is `internal`.
 */

export type BackendKind = 'sqlite' | 'mysql';

export interface User {
  id: number;
  uuid: string;
  username: string;
  /** Self-describing scrypt string from src/auth/password.ts. */
  passwordHash: string;
  disabled: boolean;
  createdAt: number;
}

export interface NewUser {
  username: string;
  passwordHash: string;
  /** Generated when absent. */
  uuid?: string;
  createdAt?: number;
}

export interface CertificateRecord {
  /** SHA-256 of the DER certificate, lowercase hex. */
  fingerprint: string;
  firstSeen: number;
  lastSeen: number;
}

export type ConversationKind = 'dm' | 'group';
export type MemberRole = 'owner' | 'admin' | 'member';

export interface Conversation {
  id: number;
  kind: ConversationKind;
  /** Group name; null for a DM. */
  name: string | null;
  createdAt: number;
}

export interface Member {
  userId: number;
  uuid: string;
  username: string;
  role: MemberRole;
  joinedAt: number;
  /** Every message of the conversation with seq ≤ this has reached this member's client. */
  deliveredSeq: number;
}

export interface GroupSummary extends Conversation {
  kind: 'group';
  name: string;
  /** The caller's role in it. */
  role: MemberRole;
  memberCount: number;
}

/** What happened when a member left or was removed (ownership never lapses). */
export interface LeaveResult {
  /** The group was deleted because its last member left. */
  deleted: boolean;
  /** Set when the leaver was the owner and ownership passed on. */
  newOwnerId?: number;
}

export type MessageKind = 'text' | 'file';

export interface NewMessage {
  conversationId: number;
  senderId: number;
  kind: MessageKind;
  /** Text (utf8mb4: emoji welcome), or a caption/empty string for a file message. */
  body: string;
  fileId?: number | null;
  createdAt?: number;
  /**
   * The sender's idempotency key (1..64 of [A-Za-z0-9_-], see CLIENT_MSG_ID): a second append with
   * the same sender and key stores nothing and resolves to the first message, `duplicate: true`.
   */
  clientMsgId?: string | null;
}

/** What a client-chosen message key may look like (checked by the handlers' schemas too). */
export const CLIENT_MSG_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface StoredMessage {
  /**
   * Global id from the database's AUTO_INCREMENT: unique, never reused, and increasing within each
   * conversation (a later seq has a larger id). Across conversations ids need not follow commit order.
   */
  id: number;
  conversationId: number;
  /** Position in the conversation: 1, 2, 3, … gap-free, allocated by the database in commit order. */
  seq: number;
  senderId: number;
  kind: MessageKind;
  body: string;
  fileId: number | null;
  createdAt: number;
  clientMsgId: string | null;
  /** Set by appendMessage when the send was a retry: this is the message stored the first time. */
  duplicate?: true;
}

/** A message joined with what a handler needs to deliver it without further queries. */
export interface MessageView extends StoredMessage {
  senderUuid: string;
  senderName: string;
  conversationKind: ConversationKind;
  /** Group name, null for a DM. */
  conversationName: string | null;
}

export interface HistoryOptions {
  /** Only messages with id < beforeId (exclusive); omit for the newest page. */
  beforeId?: number;
  /** 1..1000 (clamped); default 50. */
  limit?: number;
}

export interface NewFile {
  name: string;
  size: number;
  /** Lowercase hex; verified against content (checksum_mismatch), as is size (bad_request). */
  sha256: string;
  content: Buffer;
  senderId: number;
  createdAt?: number;
}

export interface FileMeta {
  id: number;
  uuid: string;
  name: string;
  size: number;
  sha256: string;
  senderId: number;
  createdAt: number;
}

export interface StoredFile extends FileMeta {
  content: Buffer;
}

export type AuditEvent =
  | 'register'
  | 'login_ok'
  | 'login_failed'
  | 'throttled'
  | 'logout'
  | 'password_changed'
  | 'password_reset'
  | 'disabled'
  | 'enabled'
  | 'name_mismatch';

export interface AuditEntry {
  id: number;
  at: number;
  username: string;
  ip: string | null;
  event: AuditEvent;
  /** Free text, never a secret. */
  detail: string | null;
}

export interface NewAuditEntry {
  username: string;
  ip?: string | null;
  event: AuditEvent;
  detail?: string | null;
  at?: number;
}

export interface StorageInfo {
  backend: BackendKind;
  schemaVersion: number;
  /** Largest file content this backend accepts (MySQL: bounded by max_allowed_packet). */
  maxFileBytes: number;
}

export interface Storage {
  readonly backend: BackendKind;

  // --- users ---
  /** Rejects with `exists` when the name is taken (case-insensitively). */
  createUser(user: NewUser): Promise<User>;
  getUserById(id: number): Promise<User | null>;
  getUserByUuid(uuid: string): Promise<User | null>;
  /** Case-insensitive match. */
  getUserByName(username: string): Promise<User | null>;
  listUsers(): Promise<User[]>;
  setPasswordHash(userId: number, passwordHash: string): Promise<void>;
  setDisabled(userId: number, disabled: boolean): Promise<void>;
  /** Upserts: first_seen kept, last_seen moved to `at`. */
  recordCertificate(userId: number, fingerprint: string, at?: number): Promise<void>;
  listCertificates(userId: number): Promise<CertificateRecord[]>;

  // --- conversations ---
  /** The one DM conversation between two users; idempotent and safe under concurrency. */
  getOrCreateDm(userA: number, userB: number): Promise<Conversation>;
  /** Creator becomes owner. `exists` if the name is taken. */
  createGroup(name: string, ownerId: number, createdAt?: number): Promise<Conversation>;
  getConversation(id: number): Promise<Conversation | null>;
  /** Case-insensitive. */
  getGroupByName(name: string): Promise<Conversation | null>;
  listGroupsOf(userId: number): Promise<GroupSummary[]>;
  /** Members ordered by joined_at, then user id. */
  getMembers(conversationId: number): Promise<Member[]>;
  getMember(conversationId: number, userId: number): Promise<Member | null>;
  /**
   * Adds a member (`exists` if already one). Their cursor starts at the conversation's newest
   * message: a new member reads older messages through history, they are not "pending".
   */
  addMember(conversationId: number, userId: number, role?: Exclude<MemberRole, 'owner'>): Promise<Member>;
  /**
   * Removes a member (leave or kick), in one transaction: if they were the owner, ownership passes
   * to the oldest admin, else the oldest member; if nobody is left, the group is deleted.
   * `not_found` when they were not a member.
   */
  removeMember(conversationId: number, userId: number): Promise<LeaveResult>;
  /**
   * Sets a member's role. Setting 'owner' transfers ownership in one transaction: the previous
   * owner becomes an admin. Demoting the owner directly is refused (`forbidden`): transfer instead.
   */
  setRole(conversationId: number, userId: number, role: MemberRole): Promise<void>;
  /** `exists` if another group has the name. */
  renameGroup(conversationId: number, name: string): Promise<void>;
  /** Deletes the group with its members, messages and their files. */
  deleteGroup(conversationId: number): Promise<void>;

  // --- messages ---
  /**
   * Resolves only after the transaction holding the message committed durably. Concurrent calls
   * are batched into one transaction (group commit); on failure every message of the batch is
   * rejected with `storage_unavailable` and none was stored. The database allocates `seq` and `id`
   * (several processes may append to one database). With a `clientMsgId` the sender already used,
   * nothing is stored and the first message is returned with `duplicate: true`; if that message is
   * in another conversation or differs in kind or text, the call fails with `bad_request` (reason
   * `client_msg_id_reused`).
   */
  appendMessage(message: NewMessage): Promise<StoredMessage>;
  /** The message a sender stored under `clientMsgId`, or null (kept as long as the message). */
  findByClientMsgId(senderId: number, clientMsgId: string): Promise<StoredMessage | null>;
  getMessage(id: number): Promise<MessageView | null>;
  /** One page, returned oldest first; pass the first element's id as the next `beforeId`. */
  history(conversationId: number, options?: HistoryOptions): Promise<MessageView[]>;
  /**
   * Undelivered messages across all of the user's conversations, in id order: seq > the member's
   * cursor and sent by someone else (a sender's own messages are never pending for them: the ack
   * told them). At most `limit` (default 500).
   */
  pendingFor(userId: number, limit?: number): Promise<MessageView[]>;
  /**
   * Advances the member's cursor (a seq) to cover every message with id ≤ `uptoId`, monotonically
   * (never backwards) and never past the conversation's newest message. Returns the cursor after
   * the call as the id of the newest message it covers (0: none), or null if not a member.
   */
  markDelivered(userId: number, conversationId: number, uptoId: number): Promise<number | null>;
  /** The id of the newest message of the conversation with seq ≤ `seq` (0 when none): maps a seq to an id. */
  messageIdAtSeq(conversationId: number, seq: number): Promise<number>;

  // --- files ---
  storeFile(file: NewFile): Promise<FileMeta>;
  getFile(id: number): Promise<StoredFile | null>;
  getFileByUuid(uuid: string): Promise<StoredFile | null>;
  /** Total size of the files `senderId` has stored (the per-user storage quota counts this). */
  fileBytesOf(senderId: number): Promise<number>;
  /** UTF-8 bytes of the text messages `senderId` has sent, DMs and groups (the quota counts these too). */
  textBytesOf(senderId: number): Promise<number>;

  // --- audit ---
  audit(entry: NewAuditEntry): Promise<void>;
  /** Newest first. */
  listAudit(options?: { username?: string; limit?: number }): Promise<AuditEntry[]>;

  // --- account events and login sources (issue 9 §3, migration 003) ---
  /**
   * Applies a change that must end the user's other live sessions (disable, password reset or
   * change) in one transaction: sets `disabled` and/or the password hash, bumps the user's
   * credential version and appends an account event. Returns the new version. `not_found` for an
   * unknown user.
   */
  changeCredentials(userId: number, change: CredentialChange): Promise<number>;
  /** The user's credential version (0 before any change). */
  credentialVersion(userId: number): Promise<number>;
  /** Account events with id > afterId, oldest first, at most `limit` (default 1000). */
  accountEventsAfter(afterId: number, limit?: number): Promise<AccountEvent[]>;
  /** The newest account event id (0 when none): where a starting process begins polling. */
  latestAccountEventId(): Promise<number>;
  /** Deletes account events older than `before` (ms); returns how many. */
  pruneAccountEvents(before: number): Promise<number>;
  /** Upserts a (user, address) pair that registered or logged in successfully. */
  recordLoginSource(userId: number, ip: string, at?: number): Promise<void>;
  /** When the pair last logged in successfully (ms), or null if never. */
  loginSourceLastSeen(userId: number, ip: string): Promise<number | null>;

  // --- lifecycle ---
  info(): Promise<StorageInfo>;
  /** Cheap round trip; rejects with storage_unavailable when the database is unreachable. */
  ping(): Promise<void>;
  /** Flushes pending appends, then closes. Idempotent. */
  close(): Promise<void>;
}

/** What `changeCredentials` applies (issue 9 §3). */
export interface CredentialChange {
  kind: AccountEventKind;
  disabled?: boolean;
  passwordHash?: string;
  /** The session that made the change (change_password), which stays logged in. */
  originSession?: string | null;
  at?: number;
}

export type AccountEventKind = 'disabled' | 'credentials_changed';

export interface AccountEvent {
  id: number;
  userId: number;
  /** The user's credential version after the change: sessions logged in under an older one end. */
  version: number;
  kind: AccountEventKind;
  originSession: string | null;
  at: number;
}

export interface OpenStorageOptions {
  /** Apply pending migrations at open (default true). */
  migrate?: boolean;
  /** Per-query timeout for MySQL, ms (default 10 000). */
  queryTimeoutMs?: number;
  /** MySQL connect timeout, ms (default 5 000). */
  connectTimeoutMs?: number;
  /** MySQL pool size (default 10). */
  poolSize?: number;
  /** Largest group-commit batch (default 1024). */
  maxBatch?: number;
  log?: import('../log.js').Logger;
}
