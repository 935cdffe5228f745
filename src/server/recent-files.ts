/**
 * The last files stored, kept in memory (bounded by total bytes, `recentFilesBytes`), so the
 * recipients' file_get right after the upload streams from this copy instead of reading the blob
 * back from the database. Stored files never change; access checks stay with file_get (message,
 * membership), and a file whose message is gone is never looked up.
 *
 * A download pins the entry it streams from until it ends: a pinned entry is never evicted, so
 * every cached byte a download holds stays inside the bound (an entry evicted mid-stream would
 * live on in that download, counted nowhere, for as long as a non-reading client stalls it). A new
 * file that does not fit beside the pinned ones is simply not cached.
 */
import type { StoredFile } from '../storage/types.js';

export const DEFAULT_RECENT_FILES_BYTES = 64 * 1024 * 1024;

interface Entry {
  file: StoredFile;
  pins: number;
}

export interface PinnedFile {
  file: StoredFile;
  /** Unpins (idempotent); the entry may be evicted again. */
  release(): void;
}

export class RecentFiles {
  private readonly entries = new Map<number, Entry>();
  private held = 0;

  constructor(readonly maxBytes = DEFAULT_RECENT_FILES_BYTES) {}

  /** Bytes of file content the cache holds (never above maxBytes). */
  get bytes(): number {
    return this.held;
  }

  add(file: StoredFile): void {
    const size = file.content.length;
    if (size > this.maxBytes || this.entries.has(file.id)) return;
    // Oldest unpinned out first (Map iteration follows insertion order) until the new one fits.
    for (const [id, old] of this.entries) {
      if (this.held + size <= this.maxBytes) break;
      if (old.pins > 0) continue;
      this.entries.delete(id);
      this.held -= old.file.content.length;
    }
    if (this.held + size > this.maxBytes) return;
    this.entries.set(file.id, { file, pins: 0 });
    this.held += size;
  }

  /** The cached file, pinned until `release()`; undefined if it is not cached. */
  take(id: number): PinnedFile | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    entry.pins++;
    let released = false;
    return {
      file: entry.file,
      release: () => {
        if (released) return;
        released = true;
        entry.pins--;
      },
    };
  }
}
