/**
 * Unfinished uploads live on disk, not in RAM: one 0600 file per upload in a 0700 spool directory
 * (under the data directory). Bytes are reserved at offer time (the size is known up front) against
 * three budgets — per session, per user, server-wide — and given back when the upload completes,
 * is dropped, sits idle past the timeout, or its session closes.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SecureChatError } from '../errors.js';

export interface SpoolLimits {
  /** Bytes of unfinished uploads one session may have reserved. */
  maxSpoolBytesPerSession: number;
  /** … one user, over all their sessions. */
  maxSpoolBytesPerUser: number;
  /** … the whole server. */
  maxSpoolBytes: number;
  /** An upload that receives no chunk for this long is dropped and its spool file deleted. */
  uploadIdleTimeoutMs: number;
}

export const DEFAULT_SPOOL_LIMITS: SpoolLimits = {
  maxSpoolBytesPerSession: 64 * 1024 * 1024,
  maxSpoolBytesPerUser: 128 * 1024 * 1024,
  maxSpoolBytes: 1024 * 1024 * 1024,
  uploadIdleTimeoutMs: 60_000,
};

/** One upload's file in the spool, with its reservation. */
export class SpoolFile {
  private handle: Promise<FileHandle> | null = null;
  private writes: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly path: string,
    readonly bytes: number,
    private readonly release: () => void,
  ) {}

  /** Queues a write at `position`; resolves when it is on disk (page cache). */
  write(position: number, data: Buffer): Promise<void> {
    if (this.disposed) return Promise.reject(new SecureChatError('not_found', 'No such file transfer.', { reason: 'transfer' }));
    // 'wx' + 0600: never follow or reuse an existing path, never readable by others.
    this.handle ??= open(this.path, 'wx', 0o600);
    const handle = this.handle;
    const done = this.writes.then(async () => {
      const fh = await handle;
      let written = 0;
      while (written < data.length) written += (await fh.write(data, written, data.length - written, position + written)).bytesWritten;
    });
    this.writes = done.catch(() => undefined);
    return done.catch((cause: unknown) => {
      throw new SecureChatError('io_error', 'The server could not spool the upload.', { cause });
    });
  }

  /** Everything written so far, once the queued writes are done. */
  async content(): Promise<Buffer> {
    await this.writes;
    if (!this.handle) return Buffer.alloc(0);
    return readFile(this.path);
  }

  /** Deletes the file and gives the reservation back (idempotent). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.release();
    const handle = this.handle;
    void this.writes
      .then(async () => {
        if (handle) await (await handle).close();
      })
      .catch(() => undefined)
      .finally(() => rm(this.path, { force: true }).catch(() => undefined));
  }
}

export class UploadSpool {
  readonly dir: string;
  readonly limits: SpoolLimits;
  private total = 0;
  private readonly perUser = new Map<number, number>();
  private readonly perSession = new Map<string, number>();

  /** Creates `<root>/<instance>` (0700); files left by an earlier run of this root are removed. */
  constructor(root: string, limits: Partial<SpoolLimits> = {}) {
    this.limits = { ...DEFAULT_SPOOL_LIMITS, ...limits };
    mkdirSync(root, { recursive: true, mode: 0o700 });
    chmodSync(root, 0o700);
    removeStale(root, Math.max(2 * this.limits.uploadIdleTimeoutMs, 10 * 60_000));
    this.dir = join(root, `${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(this.dir, { mode: 0o700 });
  }

  /** Bytes reserved by unfinished uploads of `userId` (they count against the storage quota too). */
  reservedByUser(userId: number): number {
    return this.perUser.get(userId) ?? 0;
  }

  get reserved(): number {
    return this.total;
  }

  /** Reserves `bytes` for a new upload; `rate_limited` over the session or user budget, `busy` over the server's. */
  reserve(sessionId: string, userId: number, bytes: number): SpoolFile {
    const l = this.limits;
    if ((this.perSession.get(sessionId) ?? 0) + bytes > l.maxSpoolBytesPerSession) {
      throw new SecureChatError('rate_limited', 'Too many unfinished uploads on this connection; complete one first.', {
        reason: 'spool_session', details: { maxBytes: l.maxSpoolBytesPerSession },
      });
    }
    if (this.reservedByUser(userId) + bytes > l.maxSpoolBytesPerUser) {
      throw new SecureChatError('rate_limited', 'Too many unfinished uploads for this account; complete one first.', {
        reason: 'spool_user', details: { maxBytes: l.maxSpoolBytesPerUser },
      });
    }
    if (this.total + bytes > l.maxSpoolBytes) {
      throw new SecureChatError('busy', 'The server has too many unfinished uploads; retry shortly.', { reason: 'spool_full' });
    }
    add(this.perSession, sessionId, bytes);
    add(this.perUser, userId, bytes);
    this.total += bytes;
    return new SpoolFile(join(this.dir, `${randomBytes(16).toString('hex')}.part`), bytes, () => {
      add(this.perSession, sessionId, -bytes);
      add(this.perUser, userId, -bytes);
      this.total -= bytes;
    });
  }

  /** Removes this instance's directory (server shutdown). */
  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function add<K>(map: Map<K, number>, key: K, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/** Instance directories of crashed runs: old enough that no live upload can still use them. */
function removeStale(root: string, olderThanMs: number): void {
  const now = Date.now();
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    try {
      if (now - statSync(path).mtimeMs > olderThanMs) rmSync(path, { recursive: true, force: true });
    } catch {
      // Raced with another process removing it: fine.
    }
  }
}
