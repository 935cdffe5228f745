/**
 * The Storage interface implemented once, in portable SQL, over a SqlDriver (SQLite or MySQL).
 * Dialect differences live in the drivers and the migrations; the few left here are explicit.
 */
import { createHash, randomUUID } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import type { SqlDriver, SqlExecutor, SqlValue } from './driver.js';
import { findByClientMsgId, toStoredMessage, writeMessageBatch } from './message-batch.js';
import { DEFAULT_MAX_BATCH, GroupCommit, MessageWriter } from './message-writer.js';
import { currentSchemaVersion } from './migrations/index.js';
import type {
  AccountEvent,
  AccountEventKind,
  AuditEntry,
  CredentialChange,
  BackendKind,
  AuditEvent,
  CertificateRecord,
  Conversation,
  ConversationKind,
  FileMeta,
  GroupSummary,
  HistoryOptions,
  LeaveResult,
  Member,
  MemberRole,
  MessageView,
  NewAuditEntry,
  NewFile,
  NewMessage,
  NewUser,
  Storage,
  StorageInfo,
  StoredFile,
  StoredMessage,
  User,
} from './types.js';
import { CLIENT_MSG_ID } from './types.js';

type Row = Record<string, unknown>;

/** How long message batches look retried sends up after one was caught by the unique index. */
const RETRY_LOOKUP_MS = 10_000;
const USER_COLS = 'id, uuid, username, password_hash, disabled, created_at';
const CONV_COLS = 'id, kind, name, created_at';
const MEMBER_COLS =
  'cm.user_id, u.uuid, u.username, cm.role, cm.joined_at, cm.delivered_seq';
const VIEW_COLS =
  'm.id, m.conversation_id, m.seq, m.sender_id, m.kind, m.body, m.file_id, m.created_at, m.client_msg_id, ' +
  'u.uuid AS sender_uuid, u.username AS sender_name, c.kind AS conv_kind, c.name AS conv_name';
const VIEW_FROM = 'messages m JOIN users u ON u.id = m.sender_id JOIN conversations c ON c.id = m.conversation_id';
const FILE_META_COLS = 'id, uuid, name, size, sha256, sender_id, created_at';

const num = (v: unknown): number => Number(v);
const str = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));

function toUser(r: Row): User {
  return {
    id: num(r.id),
    uuid: str(r.uuid),
    username: str(r.username),
    passwordHash: str(r.password_hash),
    disabled: num(r.disabled) !== 0,
    createdAt: num(r.created_at),
  };
}

function toConversation(r: Row): Conversation {
  return { id: num(r.id), kind: str(r.kind) as ConversationKind, name: strOrNull(r.name), createdAt: num(r.created_at) };
}

function toMember(r: Row): Member {
  return {
    userId: num(r.user_id),
    uuid: str(r.uuid),
    username: str(r.username),
    role: str(r.role) as MemberRole,
    joinedAt: num(r.joined_at),
    deliveredSeq: num(r.delivered_seq),
  };
}

function toView(r: Row): MessageView {
  return {
    ...toStoredMessage(r),
    senderUuid: str(r.sender_uuid),
    senderName: str(r.sender_name),
    conversationKind: str(r.conv_kind) as ConversationKind,
    conversationName: strOrNull(r.conv_name),
  };
}

function toFileMeta(r: Row): FileMeta {
  return {
    id: num(r.id),
    uuid: str(r.uuid),
    name: str(r.name),
    size: num(r.size),
    sha256: str(r.sha256),
    senderId: num(r.sender_id),
    createdAt: num(r.created_at),
  };
}

function toAudit(r: Row): AuditEntry {
  return {
    id: num(r.id),
    at: num(r.at),
    username: str(r.username),
    ip: strOrNull(r.ip),
    event: str(r.event) as AuditEvent,
    detail: strOrNull(r.detail),
  };
}

/** Usernames and group names are unique case-insensitively: this is the key they are unique by. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

const groupKey = (name: string): string => `group:${nameKey(name)}`;
const dmKey = (a: number, b: number): string => `dm:${Math.min(a, b)}:${Math.max(a, b)}`;

/** Integers only, inlined into LIMIT (placeholders for LIMIT are not portable across drivers). */
function clampLimit(limit: number | undefined, fallback: number, max: number): number {
  const n = Math.trunc(Number(limit ?? fallback));
  return Number.isFinite(n) ? Math.min(Math.max(n, 1), max) : fallback;
}

function first<T>(rows: T[]): T | null {
  return rows.length > 0 ? rows[0] : null;
}

interface CursorUpdate {
  userId: number;
  conversationId: number;
  uptoId: number;
}

/** A retry must be the same send: same conversation and kind, and for text the same text. */
function sameSend(stored: StoredMessage, m: NewMessage): boolean {
  return stored.conversationId === m.conversationId && stored.kind === m.kind && (m.kind !== 'text' || stored.body === m.body);
}

export interface SqlStorageOptions {
  maxBatch?: number;
  now?: () => number;
}

export class SqlStorage implements Storage {
  readonly backend: BackendKind;
  private readonly writer: MessageWriter;
  /** Acks come at messages × recipients: their cursor updates share transactions too. */
  private readonly cursors: GroupCommit<CursorUpdate, number | null>;
  private readonly now: () => number;
  private closing: Promise<void> | null = null;
  /** Until then, batches look retried sends up before inserting (see writeBatch). */
  private retryLookupUntil = 0;

  constructor(
    readonly db: SqlDriver,
    options: SqlStorageOptions = {},
  ) {
    this.backend = db.dialect;
    this.now = options.now ?? Date.now;
    this.writer = new MessageWriter((batch) => this.writeBatch(batch), options.maxBatch ?? DEFAULT_MAX_BATCH);
    this.cursors = new GroupCommit((batch) => this.db.transaction(async (tx) => {
      const out: (number | null)[] = [];
      for (const update of batch) out.push(await this.advanceCursor(tx, update));
      return out;
    }), { maxBatch: options.maxBatch ?? DEFAULT_MAX_BATCH });
  }

  // --- users ---

  async createUser(user: NewUser): Promise<User> {
    const uuid = user.uuid ?? randomUUID();
    const createdAt = user.createdAt ?? this.now();
    const r = await this.db.run(
      'INSERT INTO users (uuid, username, username_key, password_hash, disabled, created_at) VALUES (?, ?, ?, ?, 0, ?)',
      [uuid, user.username, nameKey(user.username), user.passwordHash, createdAt],
    );
    return { id: r.insertId, uuid, username: user.username, passwordHash: user.passwordHash, disabled: false, createdAt };
  }

  private async oneUser(where: string, value: SqlValue): Promise<User | null> {
    const row = first(await this.db.all<Row>(`SELECT ${USER_COLS} FROM users WHERE ${where} = ?`, [value]));
    return row ? toUser(row) : null;
  }

  getUserById(id: number): Promise<User | null> {
    return this.oneUser('id', id);
  }

  getUserByUuid(uuid: string): Promise<User | null> {
    return this.oneUser('uuid', uuid);
  }

  getUserByName(username: string): Promise<User | null> {
    return this.oneUser('username_key', nameKey(username));
  }

  async listUsers(): Promise<User[]> {
    return (await this.db.all<Row>(`SELECT ${USER_COLS} FROM users ORDER BY username_key`)).map(toUser);
  }

  private async updateUser(userId: number, set: string, value: SqlValue): Promise<void> {
    const r = await this.db.run(`UPDATE users SET ${set} = ? WHERE id = ?`, [value, userId]);
    if (r.affectedRows === 0 && !(await this.getUserById(userId))) throw new SecureChatError('not_found', 'No such user.');
  }

  setPasswordHash(userId: number, passwordHash: string): Promise<void> {
    return this.updateUser(userId, 'password_hash', passwordHash);
  }

  setDisabled(userId: number, disabled: boolean): Promise<void> {
    return this.updateUser(userId, 'disabled', disabled ? 1 : 0);
  }

  async recordCertificate(userId: number, fingerprint: string, at: number = this.now()): Promise<void> {
    const fp = fingerprint.toLowerCase();
    await this.db.transaction(async (tx) => {
      const r = await tx.run('UPDATE user_certificates SET last_seen = ? WHERE user_id = ? AND fingerprint = ? AND last_seen <= ?', [
        at, userId, fp, at,
      ]);
      if (r.affectedRows > 0) return;
      const seen = await tx.all<Row>(`SELECT 1 AS x FROM user_certificates WHERE user_id = ? AND fingerprint = ?${this.db.forUpdate}`, [userId, fp]);
      if (seen.length > 0) return;
      await tx.run('INSERT INTO user_certificates (user_id, fingerprint, first_seen, last_seen) VALUES (?, ?, ?, ?)', [userId, fp, at, at]);
    });
  }

  async listCertificates(userId: number): Promise<CertificateRecord[]> {
    const rows = await this.db.all<Row>(
      'SELECT fingerprint, first_seen, last_seen FROM user_certificates WHERE user_id = ? ORDER BY first_seen, fingerprint',
      [userId],
    );
    return rows.map((r) => ({ fingerprint: str(r.fingerprint), firstSeen: num(r.first_seen), lastSeen: num(r.last_seen) }));
  }

  // --- conversations ---

  private async convByKey(key: string): Promise<Conversation | null> {
    const row = first(await this.db.all<Row>(`SELECT ${CONV_COLS} FROM conversations WHERE conv_key = ?`, [key]));
    return row ? toConversation(row) : null;
  }

  async getOrCreateDm(userA: number, userB: number): Promise<Conversation> {
    if (userA === userB) throw new SecureChatError('bad_request', 'A direct conversation needs two different users.');
    const key = dmKey(userA, userB);
    const existing = await this.convByKey(key);
    if (existing) return existing;
    const createdAt = this.now();
    try {
      return await this.db.transaction(async (tx) => {
        const r = await tx.run("INSERT INTO conversations (kind, name, conv_key, created_at) VALUES ('dm', NULL, ?, ?)", [key, createdAt]);
        for (const uid of [userA, userB]) {
          await tx.run(
            "INSERT INTO conversation_members (conversation_id, user_id, role, delivered_seq, joined_at) VALUES (?, ?, 'member', 0, ?)",
            [r.insertId, uid, createdAt],
          );
        }
        return { id: r.insertId, kind: 'dm' as const, name: null, createdAt };
      });
    } catch (err) {
      // Lost the race to a concurrent creator: theirs is the one.
      if (err instanceof SecureChatError && err.code === 'exists') {
        const winner = await this.convByKey(key);
        if (winner) return winner;
      }
      throw err;
    }
  }

  async createGroup(name: string, ownerId: number, createdAt: number = this.now()): Promise<Conversation> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run("INSERT INTO conversations (kind, name, conv_key, created_at) VALUES ('group', ?, ?, ?)", [
        name, groupKey(name), createdAt,
      ]);
      await tx.run(
        "INSERT INTO conversation_members (conversation_id, user_id, role, delivered_seq, joined_at) VALUES (?, ?, 'owner', 0, ?)",
        [r.insertId, ownerId, createdAt],
      );
      return { id: r.insertId, kind: 'group' as const, name, createdAt };
    });
  }

  async getConversation(id: number): Promise<Conversation | null> {
    const row = first(await this.db.all<Row>(`SELECT ${CONV_COLS} FROM conversations WHERE id = ?`, [id]));
    return row ? toConversation(row) : null;
  }

  getGroupByName(name: string): Promise<Conversation | null> {
    return this.convByKey(groupKey(name));
  }

  async listGroupsOf(userId: number): Promise<GroupSummary[]> {
    const rows = await this.db.all<Row>(
      `SELECT c.id, c.kind, c.name, c.created_at, cm.role,
              (SELECT COUNT(*) FROM conversation_members x WHERE x.conversation_id = c.id) AS member_count
         FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id
        WHERE cm.user_id = ? AND c.kind = 'group'
        ORDER BY c.conv_key`,
      [userId],
    );
    return rows.map((r) => ({
      ...toConversation(r),
      kind: 'group' as const,
      name: str(r.name),
      role: str(r.role) as MemberRole,
      memberCount: num(r.member_count),
    }));
  }

  async getMembers(conversationId: number): Promise<Member[]> {
    const rows = await this.db.all<Row>(
      `SELECT ${MEMBER_COLS} FROM conversation_members cm JOIN users u ON u.id = cm.user_id
        WHERE cm.conversation_id = ? ORDER BY cm.joined_at, cm.user_id`,
      [conversationId],
    );
    return rows.map(toMember);
  }

  private async memberIn(ex: SqlExecutor, conversationId: number, userId: number, lock = ''): Promise<Member | null> {
    const row = first(
      await ex.all<Row>(
        `SELECT ${MEMBER_COLS} FROM conversation_members cm JOIN users u ON u.id = cm.user_id
          WHERE cm.conversation_id = ? AND cm.user_id = ?${lock}`,
        [conversationId, userId],
      ),
    );
    return row ? toMember(row) : null;
  }

  getMember(conversationId: number, userId: number): Promise<Member | null> {
    return this.memberIn(this.db, conversationId, userId);
  }

  /**
   * Locks the group row for the rest of the transaction (MySQL) so membership changes serialise,
   * and with it the message writer (which takes the same lock). Returns the group's newest seq.
   */
  private async lockGroup(tx: SqlExecutor, conversationId: number): Promise<number> {
    const rows = await tx.all<Row>(`SELECT next_seq FROM conversations WHERE id = ? AND kind = 'group'${this.db.forUpdate}`, [conversationId]);
    if (rows.length === 0) throw new SecureChatError('not_found', 'No such group.');
    return num(rows[0].next_seq) - 1;
  }

  async addMember(conversationId: number, userId: number, role: Exclude<MemberRole, 'owner'> = 'member'): Promise<Member> {
    if (role !== 'member' && role !== 'admin') throw new SecureChatError('bad_request', 'Invalid role.');
    return this.db.transaction(async (tx) => {
      const cursor = await this.lockGroup(tx, conversationId);
      await tx.run(
        'INSERT INTO conversation_members (conversation_id, user_id, role, delivered_seq, joined_at) VALUES (?, ?, ?, ?, ?)',
        [conversationId, userId, role, cursor, this.now()],
      );
      const member = await this.memberIn(tx, conversationId, userId);
      if (!member) throw new SecureChatError('internal');
      return member;
    });
  }

  async removeMember(conversationId: number, userId: number): Promise<LeaveResult> {
    return this.db.transaction(async (tx) => {
      await this.lockGroup(tx, conversationId);
      const member = await this.memberIn(tx, conversationId, userId);
      if (!member) throw new SecureChatError('not_found', 'Not a member of that group.');
      await tx.run('DELETE FROM conversation_members WHERE conversation_id = ? AND user_id = ?', [conversationId, userId]);
      const heir = first(
        await tx.all<Row>(
          `SELECT user_id FROM conversation_members WHERE conversation_id = ?
            ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, joined_at, user_id LIMIT 1`,
          [conversationId],
        ),
      );
      if (!heir) {
        await this.deleteGroupIn(tx, conversationId);
        return { deleted: true };
      }
      if (member.role !== 'owner') return { deleted: false };
      const newOwnerId = num(heir.user_id);
      await tx.run("UPDATE conversation_members SET role = 'owner' WHERE conversation_id = ? AND user_id = ?", [conversationId, newOwnerId]);
      return { deleted: false, newOwnerId };
    });
  }

  async setRole(conversationId: number, userId: number, role: MemberRole): Promise<void> {
    if (!['owner', 'admin', 'member'].includes(role)) throw new SecureChatError('bad_request', 'Invalid role.');
    await this.db.transaction(async (tx) => {
      await this.lockGroup(tx, conversationId);
      const member = await this.memberIn(tx, conversationId, userId);
      if (!member) throw new SecureChatError('not_found', 'Not a member of that group.');
      if (member.role === role) return;
      if (member.role === 'owner') throw new SecureChatError('forbidden', 'The owner cannot be demoted; transfer ownership instead.');
      if (role === 'owner') {
        await tx.run("UPDATE conversation_members SET role = 'admin' WHERE conversation_id = ? AND role = 'owner'", [conversationId]);
      }
      await tx.run('UPDATE conversation_members SET role = ? WHERE conversation_id = ? AND user_id = ?', [role, conversationId, userId]);
    });
  }

  async renameGroup(conversationId: number, name: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.lockGroup(tx, conversationId);
      await tx.run('UPDATE conversations SET name = ?, conv_key = ? WHERE id = ?', [name, groupKey(name), conversationId]);
    });
  }

  private async deleteGroupIn(tx: SqlExecutor, conversationId: number): Promise<void> {
    const files = await tx.all<Row>('SELECT file_id FROM messages WHERE conversation_id = ? AND file_id IS NOT NULL', [conversationId]);
    // Members and messages go by ON DELETE CASCADE; files are only reachable through this group's messages.
    await tx.run('DELETE FROM conversations WHERE id = ?', [conversationId]);
    for (const f of files) await tx.run('DELETE FROM files WHERE id = ?', [num(f.file_id)]);
  }

  async deleteGroup(conversationId: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.lockGroup(tx, conversationId);
      await this.deleteGroupIn(tx, conversationId);
    });
  }

  // --- messages ---

  async appendMessage(message: NewMessage): Promise<StoredMessage> {
    if (message.kind !== 'text' && message.kind !== 'file') throw new SecureChatError('bad_request', 'Invalid message kind.');
    if (message.clientMsgId !== undefined && message.clientMsgId !== null && !CLIENT_MSG_ID.test(message.clientMsgId)) {
      throw new SecureChatError('bad_request', 'client_msg_id must be 1..64 characters of A-Z a-z 0-9 _ -.', { details: { field: 'client_msg_id' } });
    }
    const stored = await this.writer.append(message).catch(async (err: unknown) => {
      // Lost a race with another process storing the same send (unique key): theirs is the one.
      const prior = err instanceof SecureChatError && err.code === 'exists' && message.clientMsgId
        ? await this.findByClientMsgId(message.senderId, message.clientMsgId)
        : null;
      if (!prior) throw err;
      return { ...prior, duplicate: true as const };
    });
    if (stored.duplicate && !sameSend(stored, message)) {
      throw new SecureChatError('bad_request', 'That client_msg_id was already used for a different message.', {
        reason: 'client_msg_id_reused',
        details: { field: 'client_msg_id' },
      });
    }
    return stored;
  }

  /**
   * Writes a batch without first looking up retried sends (they cost a probe per message and are
   * rare: a client resends only what a lost connection left unacknowledged). A stored retry fails the
   * INSERT on the unique (client_msg_id, sender_id) index; the transaction rolls back whole and the
   * batch is written again with the lookup, and so is every batch for RETRY_LOOKUP_MS after, so that
   * a client resending on purpose costs at most one extra batch per window (never worse than always
   * looking up).
   */
  private async writeBatch(batch: NewMessage[]): Promise<(StoredMessage | SecureChatError)[]> {
    const write = (findRetries: boolean) =>
      this.db.writerTransaction((tx) => writeMessageBatch(tx, this.db.dialect, this.db.forUpdate, batch, this.now(), findRetries));
    if (Date.now() < this.retryLookupUntil || !batch.some((m) => m.clientMsgId)) return write(true);
    try {
      return await write(false);
    } catch (err) {
      if (!(err instanceof SecureChatError && err.code === 'exists')) throw err;
      this.retryLookupUntil = Date.now() + RETRY_LOOKUP_MS;
      return write(true);
    }
  }

  findByClientMsgId(senderId: number, clientMsgId: string): Promise<StoredMessage | null> {
    return findByClientMsgId(this.db, senderId, clientMsgId);
  }

  messageIdAtSeq(conversationId: number, seq: number): Promise<number> {
    return this.messageIdAtSeqIn(this.db, conversationId, Math.trunc(seq));
  }

  async getMessage(id: number): Promise<MessageView | null> {
    const row = first(await this.db.all<Row>(`SELECT ${VIEW_COLS} FROM ${VIEW_FROM} WHERE m.id = ?`, [id]));
    return row ? toView(row) : null;
  }

  async history(conversationId: number, options: HistoryOptions = {}): Promise<MessageView[]> {
    const limit = clampLimit(options.limit, 50, 1000);
    const before = options.beforeId === undefined ? '' : ' AND m.id < ?';
    const params: SqlValue[] = options.beforeId === undefined ? [conversationId] : [conversationId, options.beforeId];
    const rows = await this.db.all<Row>(
      `SELECT ${VIEW_COLS} FROM ${VIEW_FROM} WHERE m.conversation_id = ?${before} ORDER BY m.id DESC LIMIT ${limit}`,
      params,
    );
    return rows.map(toView).reverse();
  }

  async pendingFor(userId: number, limit?: number): Promise<MessageView[]> {
    const n = clampLimit(limit, 500, 10_000);
    const rows = await this.db.all<Row>(
      `SELECT ${VIEW_COLS}
         FROM conversation_members cm
         JOIN messages m ON m.conversation_id = cm.conversation_id AND m.seq > cm.delivered_seq
         JOIN users u ON u.id = m.sender_id
         JOIN conversations c ON c.id = m.conversation_id
        WHERE cm.user_id = ? AND m.sender_id <> ?
        ORDER BY m.id LIMIT ${n}`,
      [userId, userId],
    );
    return rows.map(toView);
  }

  markDelivered(userId: number, conversationId: number, uptoId: number): Promise<number | null> {
    return this.cursors.submit({ userId, conversationId, uptoId });
  }

  private async advanceCursor(tx: SqlExecutor, { userId, conversationId, uptoId }: CursorUpdate): Promise<number | null> {
    const member = await this.memberIn(tx, conversationId, userId, this.db.forUpdate);
    if (!member) return null;
    // The newest stored message with id ≤ uptoId (ids increase with seq within a conversation), so
    // the cursor never passes the newest message: a cursor ahead of it would skip future messages.
    const newest = first(
      await tx.all<Row>('SELECT id, seq FROM messages WHERE conversation_id = ? AND id <= ? ORDER BY id DESC LIMIT 1', [
        conversationId,
        Math.trunc(uptoId),
      ]),
    );
    if (!newest || num(newest.seq) <= member.deliveredSeq) return this.messageIdAtSeqIn(tx, conversationId, member.deliveredSeq);
    await tx.run('UPDATE conversation_members SET delivered_seq = ? WHERE conversation_id = ? AND user_id = ? AND delivered_seq < ?', [
      num(newest.seq), conversationId, userId, num(newest.seq),
    ]);
    return num(newest.id);
  }

  private async messageIdAtSeqIn(ex: SqlExecutor, conversationId: number, seq: number): Promise<number> {
    if (seq <= 0) return 0;
    const rows = await ex.all<Row>('SELECT id FROM messages WHERE conversation_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1', [conversationId, seq]);
    return rows.length > 0 ? num(rows[0].id) : 0;
  }


  // --- files ---

  async storeFile(file: NewFile): Promise<FileMeta> {
    if (file.size !== file.content.length) throw new SecureChatError('bad_request', 'File size does not match its content.');
    const sha256 = file.sha256.toLowerCase();
    if (createHash('sha256').update(file.content).digest('hex') !== sha256) throw new SecureChatError('checksum_mismatch');
    const max = await this.db.maxBlobBytes();
    if (file.content.length > max) {
      throw new SecureChatError('file_too_large', undefined, { details: { maxBytes: max, reason: 'backend_limit' } });
    }
    const uuid = randomUUID();
    const createdAt = file.createdAt ?? this.now();
    const r = await this.db.run(
      'INSERT INTO files (uuid, name, size, sha256, content, sender_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [uuid, file.name, file.size, sha256, file.content, file.senderId, createdAt],
    );
    return { id: r.insertId, uuid, name: file.name, size: file.size, sha256, senderId: file.senderId, createdAt };
  }

  private async oneFile(where: string, value: SqlValue): Promise<StoredFile | null> {
    const row = first(await this.db.all<Row>(`SELECT ${FILE_META_COLS}, content FROM files WHERE ${where} = ?`, [value]));
    if (!row) return null;
    return { ...toFileMeta(row), content: Buffer.from(row.content as Uint8Array) };
  }

  getFile(id: number): Promise<StoredFile | null> {
    return this.oneFile('id', id);
  }

  async fileBytesOf(senderId: number): Promise<number> {
    const row = first(await this.db.all<Row>('SELECT COALESCE(SUM(size), 0) AS bytes FROM files WHERE sender_id = ?', [senderId]));
    return row ? num(row.bytes) : 0;
  }

  async textBytesOf(senderId: number): Promise<number> {
    // Bytes, not characters: SQLite's LENGTH counts characters of TEXT, MySQL's counts bytes.
    const bytes = this.db.dialect === 'sqlite' ? 'LENGTH(CAST(body AS BLOB))' : 'LENGTH(body)';
    const row = first(await this.db.all<Row>(`SELECT COALESCE(SUM(${bytes}), 0) AS bytes FROM messages WHERE sender_id = ? AND kind = 'text'`, [senderId]));
    return row ? num(row.bytes) : 0;
  }

  getFileByUuid(uuid: string): Promise<StoredFile | null> {
    return this.oneFile('uuid', uuid);
  }

  // --- audit ---

  async audit(entry: NewAuditEntry): Promise<void> {
    await this.db.run('INSERT INTO auth_audit (at, username, ip, event, detail) VALUES (?, ?, ?, ?, ?)', [
      entry.at ?? this.now(),
      entry.username.slice(0, 64),
      entry.ip ?? null,
      entry.event,
      entry.detail === undefined || entry.detail === null ? null : entry.detail.slice(0, 255),
    ]);
  }

  async listAudit(options: { username?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const limit = clampLimit(options.limit, 100, 10_000);
    const rows =
      options.username === undefined
        ? await this.db.all<Row>(`SELECT id, at, username, ip, event, detail FROM auth_audit ORDER BY id DESC LIMIT ${limit}`)
        : await this.db.all<Row>(
            `SELECT id, at, username, ip, event, detail FROM auth_audit WHERE username = ? ORDER BY id DESC LIMIT ${limit}`,
            [options.username],
          );
    return rows.map(toAudit);
  }

  // --- account events and login sources (issue 9 §3, migration 003) ---

  async changeCredentials(userId: number, change: CredentialChange): Promise<number> {
    const at = change.at ?? this.now();
    return this.db.transaction(async (tx) => {
      // Locks the user row (MySQL) so concurrent changes to one user get distinct versions.
      const users = await tx.all<Row>(`SELECT id FROM users WHERE id = ?${this.db.forUpdate}`, [userId]);
      if (users.length === 0) throw new SecureChatError('not_found', 'No such user.');
      if (change.disabled !== undefined) await tx.run('UPDATE users SET disabled = ? WHERE id = ?', [change.disabled ? 1 : 0, userId]);
      if (change.passwordHash !== undefined) await tx.run('UPDATE users SET password_hash = ? WHERE id = ?', [change.passwordHash, userId]);
      const rows = await tx.all<Row>(`SELECT version FROM credential_versions WHERE user_id = ?${this.db.forUpdate}`, [userId]);
      const version = (rows.length > 0 ? num(rows[0].version) : 0) + 1;
      if (rows.length > 0) await tx.run('UPDATE credential_versions SET version = ?, updated_at = ? WHERE user_id = ?', [version, at, userId]);
      else await tx.run('INSERT INTO credential_versions (user_id, version, updated_at) VALUES (?, ?, ?)', [userId, version, at]);
      await tx.run('INSERT INTO account_events (user_id, version, kind, origin_session, at) VALUES (?, ?, ?, ?, ?)', [
        userId, version, change.kind, change.originSession ?? null, at,
      ]);
      return version;
    });
  }

  async credentialVersion(userId: number): Promise<number> {
    const rows = await this.db.all<Row>('SELECT version FROM credential_versions WHERE user_id = ?', [userId]);
    return rows.length > 0 ? num(rows[0].version) : 0;
  }

  async accountEventsAfter(afterId: number, limit?: number): Promise<AccountEvent[]> {
    const n = clampLimit(limit, 1000, 10_000);
    const rows = await this.db.all<Row>(
      `SELECT id, user_id, version, kind, origin_session, at FROM account_events WHERE id > ? ORDER BY id LIMIT ${n}`,
      [afterId],
    );
    return rows.map((r) => ({
      id: num(r.id),
      userId: num(r.user_id),
      version: num(r.version),
      kind: str(r.kind) as AccountEventKind,
      originSession: strOrNull(r.origin_session),
      at: num(r.at),
    }));
  }

  async latestAccountEventId(): Promise<number> {
    const rows = await this.db.all<Row>('SELECT COALESCE(MAX(id), 0) AS m FROM account_events');
    return num(rows[0]?.m ?? 0);
  }

  async pruneAccountEvents(before: number): Promise<number> {
    // The newest row always stays, so an old MySQL that re-seeds AUTO_INCREMENT from MAX(id) at
    // restart can never hand out an id a poller has already passed.
    const newest = await this.latestAccountEventId();
    return (await this.db.run('DELETE FROM account_events WHERE at < ? AND id < ?', [before, newest])).affectedRows;
  }

  async recordLoginSource(userId: number, ip: string, at: number = this.now()): Promise<void> {
    const addr = ip.slice(0, 64);
    await this.db.transaction(async (tx) => {
      const r = await tx.run('UPDATE login_sources SET last_seen = ? WHERE user_id = ? AND ip = ? AND last_seen <= ?', [at, userId, addr, at]);
      if (r.affectedRows > 0) return;
      const seen = await tx.all<Row>(`SELECT 1 AS x FROM login_sources WHERE user_id = ? AND ip = ?${this.db.forUpdate}`, [userId, addr]);
      if (seen.length > 0) return;
      await tx.run('INSERT INTO login_sources (user_id, ip, first_seen, last_seen) VALUES (?, ?, ?, ?)', [userId, addr, at, at]);
    });
  }

  async loginSourceLastSeen(userId: number, ip: string): Promise<number | null> {
    const rows = await this.db.all<Row>('SELECT last_seen FROM login_sources WHERE user_id = ? AND ip = ?', [userId, ip.slice(0, 64)]);
    return rows.length > 0 ? num(rows[0].last_seen) : null;
  }

  // --- lifecycle ---

  async info(): Promise<StorageInfo> {
    return { backend: this.backend, schemaVersion: await currentSchemaVersion(this.db), maxFileBytes: await this.db.maxBlobBytes() };
  }

  async ping(): Promise<void> {
    await this.db.all('SELECT 1 AS ok');
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.writer.close();
      await this.cursors.close();
      await this.db.close();
    })();
    return this.closing;
  }
}
