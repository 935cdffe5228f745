/**
 * Per-session file transfer state. An upload is offered (name, size, sha256 fixed up front), fed
 * strictly in order, hashed as it arrives, and checked before it goes anywhere near storage.
 * A session's transfers die with it: nothing half-received outlives the connection.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import type { FileMeta } from '../storage/types.js';
import type { Recipient } from './delivery.js';

export const MAX_FILE_NAME_BYTES = 255;

/** Bidirectional overrides and marks: they make "evil\u202Etxt.exe" display as "evilexe.txt". */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A file name safe to show and to save: the last path component only, without control characters,
 * bidi controls or lone surrogates, trimmed, NFC; never empty, "." or "..", at most 255 UTF-8 bytes.
 */
export function sanitizeFileName(raw: string): string {
  const base = raw.split(/[/\\]/).pop() ?? '';
  const clean = base.replace(/[\p{Cc}\p{Cs}]/gu, '').replace(BIDI_CONTROLS, '').normalize('NFC').trim();
  if (clean === '' || clean === '.' || clean === '..') {
    throw new SecureChatError('bad_request', 'The file name is empty once paths and control characters are removed.', { details: { field: 'name' } });
  }
  if (Buffer.byteLength(clean, 'utf8') > MAX_FILE_NAME_BYTES) {
    throw new SecureChatError('bad_request', `File names are at most ${MAX_FILE_NAME_BYTES} bytes.`, { details: { field: 'name' } });
  }
  return clean;
}

export type TransferTarget =
  | { kind: 'dm'; conversationId: number; recipient: Recipient }
  | { kind: 'group'; conversationId: number; name: string };

export interface OfferedFile {
  name: string;
  size: number;
  /** Lowercase hex. */
  sha256: string;
}

export class Upload {
  readonly id = randomBytes(16).toString('hex');
  private chunks: Buffer[] = [];
  private readonly hash: Hash = createHash('sha256');
  private content: Buffer | null = null;
  received = 0;
  /** Set while file_complete runs, so a second complete or a late chunk cannot interleave. */
  completing = false;
  /** Set once storage holds the content, so a retried file_complete does not store it twice. */
  stored: FileMeta | null = null;

  constructor(
    readonly userId: number,
    readonly target: TransferTarget,
    readonly file: OfferedFile,
  ) {}

  /** Takes the next chunk; it must start exactly where the previous one ended. */
  append(offset: number, data: Buffer, maxChunkBytes: number): void {
    if (this.completing || this.content) throw new SecureChatError('bad_request', 'The transfer is already being completed.');
    if (offset !== this.received) {
      throw new SecureChatError('bad_request', `Chunk at offset ${offset}, expected ${this.received}.`, { details: { expected: this.received } });
    }
    if (data.length === 0 || data.length > maxChunkBytes) {
      throw new SecureChatError('bad_request', `Chunks carry 1 to ${maxChunkBytes} bytes.`, { details: { chunkSize: maxChunkBytes } });
    }
    if (this.received + data.length > this.file.size) {
      throw new SecureChatError('file_too_large', `More data than the ${this.file.size} bytes offered.`, { details: { size: this.file.size } });
    }
    this.chunks.push(data);
    this.hash.update(data);
    this.received += data.length;
  }

  /** The whole content, once its size and sha256 match the offer; checksum_mismatch otherwise. */
  verifiedContent(): Buffer {
    if (this.content) return this.content;
    if (this.received !== this.file.size) {
      throw new SecureChatError('checksum_mismatch', `Received ${this.received} of the ${this.file.size} bytes offered.`, { reason: 'size' });
    }
    if (this.hash.digest('hex') !== this.file.sha256) throw new SecureChatError('checksum_mismatch', undefined, { reason: 'sha256' });
    this.content = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.received);
    this.chunks = [];
    return this.content;
  }
}

interface SessionLike {
  once(event: 'close', listener: () => void): unknown;
}

/** The uploads and downloads one session has open. */
export class SessionTransfers {
  private readonly uploads = new Map<string, Upload>();
  private downloads = 0;

  open(userId: number, target: TransferTarget, file: OfferedFile, maxOpen: number): Upload {
    if (this.uploads.size >= maxOpen) {
      throw new SecureChatError('rate_limited', `At most ${maxOpen} file transfers may be open at once; complete one first.`, {
        details: { maxOpenTransfers: maxOpen },
      });
    }
    const upload = new Upload(userId, target, file);
    this.uploads.set(upload.id, upload);
    return upload;
  }

  /** The caller's open upload; `not_found` for an unknown id (or one that belongs to another login). */
  get(id: string, userId: number): Upload {
    const upload = this.uploads.get(id);
    if (!upload || upload.userId !== userId) throw new SecureChatError('not_found', 'No such file transfer.', { reason: 'transfer' });
    return upload;
  }

  drop(id: string): void {
    this.uploads.delete(id);
  }

  get openUploads(): number {
    return this.uploads.size;
  }

  /** Bounds concurrent file_get per session: each holds a whole file in memory while it streams. */
  beginDownload(maxOpen: number): () => void {
    if (this.downloads >= maxOpen) {
      throw new SecureChatError('rate_limited', `At most ${maxOpen} downloads may run at once.`, { details: { maxOpenTransfers: maxOpen } });
    }
    this.downloads++;
    let ended = false;
    return () => {
      if (!ended) this.downloads--;
      ended = true;
    };
  }

  clear(): void {
    this.uploads.clear();
  }
}

const bySession = new WeakMap<SessionLike, SessionTransfers>();

/** The transfer state of `session`, created on first use and cleared when the session closes. */
export function transfersOf(session: SessionLike): SessionTransfers {
  let transfers = bySession.get(session);
  if (!transfers) {
    const created = new SessionTransfers();
    transfers = created;
    bySession.set(session, created);
    session.once('close', () => {
      created.clear();
      bySession.delete(session);
    });
  }
  return transfers;
}
