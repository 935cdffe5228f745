/**
 * The last files stored, kept in memory (bounded by total bytes), so the recipients' file_get
 * right after the upload streams from this copy instead of reading the blob back from the
 * database. Stored files never change; access checks stay with file_get (message, membership),
 * and a file whose message is gone is never looked up.
 */
import type { StoredFile } from '../storage/types.js';

export class RecentFiles {
  private readonly files = new Map<number, StoredFile>();
  private bytes = 0;

  constructor(private readonly maxBytes = 64 * 1024 * 1024) {}

  add(file: StoredFile): void {
    if (file.content.length > this.maxBytes || this.files.has(file.id)) return;
    this.files.set(file.id, file);
    this.bytes += file.content.length;
    // Oldest out first: Map iteration follows insertion order.
    for (const [id, old] of this.files) {
      if (this.bytes <= this.maxBytes) break;
      this.files.delete(id);
      this.bytes -= old.content.length;
    }
  }

  get(id: number): StoredFile | undefined {
    return this.files.get(id);
  }
}
