/**
 * Per-session file transfer state. An upload is offered (name, size, sha256 fixed up front), fed
 * strictly in order, hashed as it arrives, and checked before it goes anywhere near storage.
 * A session's transfers die with it: nothing half-received outlives the connection. The bytes
 * received so far are spooled to disk (upload-spool.ts), never held in memory.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import type { FileMeta } from '../storage/types.js';
import type { Recipient } from './delivery.js';
import type { SpoolFile } from './upload-spool.js';

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

/**
 * One upload. Chunks are checked and hashed in arrival order, synchronously (so two chunks can
 * never interleave), and written to the upload's spool file: the content is on disk, not in RAM,
 * until file_complete reads it back once to store it.
 */
export class Upload {
  readonly id = randomBytes(16).toString('hex');
  private readonly hash: Hash = createHash('sha256');
  private digest: string | null = null;
  received = 0;
  /** Set while file_complete runs, so a second complete or a late chunk cannot interleave. */
  completing = false;
  /** Set once storage holds the content, so a retried file_complete does not store it twice. */
  stored: FileMeta | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly userId: number,
    readonly target: TransferTarget,
    readonly file: OfferedFile,
    private readonly spool: SpoolFile,
  ) {}

  /** Takes the next chunk; it must start exactly where the previous one ended. Resolves once spooled. */
  append(offset: number, data: Buffer, maxChunkBytes: number): Promise<void> {
    if (this.completing || this.digest !== null) throw new SecureChatError('bad_request', 'The transfer is already being completed.');
    if (offset !== this.received) {
      throw new SecureChatError('bad_request', `Chunk at offset ${offset}, expected ${this.received}.`, { details: { expected: this.received } });
    }
    if (data.length === 0 || data.length > maxChunkBytes) {
      throw new SecureChatError('bad_request', `Chunks carry 1 to ${maxChunkBytes} bytes.`, { details: { chunkSize: maxChunkBytes } });
    }
    if (this.received + data.length > this.file.size) {
      throw new SecureChatError('file_too_large', `More data than the ${this.file.size} bytes offered.`, { details: { size: this.file.size } });
    }
    this.hash.update(data);
    this.received += data.length;
    return this.spool.write(offset, data);
  }

  /** The whole content, read back from the spool once its size and sha256 match the offer. */
  async verifiedContent(): Promise<Buffer> {
    if (this.received !== this.file.size) {
      throw new SecureChatError('checksum_mismatch', `Received ${this.received} of the ${this.file.size} bytes offered.`, { reason: 'size' });
    }
    this.digest ??= this.hash.digest('hex');
    if (this.digest !== this.file.sha256) throw new SecureChatError('checksum_mismatch', undefined, { reason: 'sha256' });
    const content = await this.spool.content();
    if (content.length !== this.file.size) throw new SecureChatError('io_error', 'The spooled upload is incomplete.');
    return content;
  }

  /** (Re)starts the idle timer: `onIdle` runs if no chunk arrives within `ms`. */
  touch(ms: number, onIdle: () => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(onIdle, ms);
    this.idleTimer.unref();
  }

  /** Frees the spool file and its reservation. */
  dispose(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.spool.dispose();
  }
}

interface SessionLike {
  once(event: 'close', listener: () => void): unknown;
}

/** The uploads and downloads one session has open. */
export class SessionTransfers {
  private readonly uploads = new Map<string, Upload>();
  private downloads = 0;

  /** Opens an upload spooled to `spool` (which reserves its bytes); it is dropped after `idleMs` without a chunk. */
  open(userId: number, target: TransferTarget, file: OfferedFile, maxOpen: number, spool: SpoolFile, idleMs: number): Upload {
    if (this.uploads.size >= maxOpen) {
      spool.dispose();
      throw new SecureChatError('rate_limited', `At most ${maxOpen} file transfers may be open at once; complete one first.`, {
        details: { maxOpenTransfers: maxOpen },
      });
    }
    const upload = new Upload(userId, target, file, spool);
    this.uploads.set(upload.id, upload);
    this.keepAlive(upload, idleMs);
    return upload;
  }

  /** Restarts the upload's idle timer (on every chunk). */
  keepAlive(upload: Upload, idleMs: number): void {
    upload.touch(idleMs, () => {
      if (!upload.completing) this.drop(upload.id);
    });
  }

  /** The caller's open upload; `not_found` for an unknown id (or one that belongs to another login). */
  get(id: string, userId: number): Upload {
    const upload = this.uploads.get(id);
    if (!upload || upload.userId !== userId) throw new SecureChatError('not_found', 'No such file transfer.', { reason: 'transfer' });
    return upload;
  }

  drop(id: string): void {
    this.uploads.get(id)?.dispose();
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
    for (const upload of this.uploads.values()) upload.dispose();
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
