/**
 * The per-user storage quota: bytes of files a user has stored plus the bytes their unfinished
 * uploads have reserved in the spool. The stored total is read from the database once per user
 * (a sum over their files) and then kept up to date as this node stores files, so an offer costs
 * no query. (Another node's uploads are seen after a restart: the quota is a bound, not a ledger.)
 */
import { SecureChatError } from '../errors.js';
import type { Storage } from '../storage/types.js';

export class StorageQuota {
  private readonly used = new Map<number, Promise<number>>();

  constructor(
    private readonly storage: Storage,
    readonly quotaBytes: number,
    private readonly maxTracked = 100_000,
  ) {}

  private usedBy(userId: number): Promise<number> {
    let used = this.used.get(userId);
    if (!used) {
      if (this.used.size >= this.maxTracked) this.used.delete(this.used.keys().next().value as number);
      used = this.storage.fileBytesOf(userId);
      // A failed query is not cached: the next offer asks again.
      used.catch(() => this.used.delete(userId));
      this.used.set(userId, used);
    }
    return used;
  }

  /** quota_exceeded when `bytes` more (on top of `reserved` in the spool) would pass the quota. */
  async check(userId: number, bytes: number, reserved: number): Promise<void> {
    const used = await this.usedBy(userId);
    if (used + reserved + bytes > this.quotaBytes) {
      throw new SecureChatError('quota_exceeded', `This file needs ${bytes} bytes; ${Math.max(0, this.quotaBytes - used - reserved)} of your ${this.quotaBytes} are left.`, {
        details: { quotaBytes: this.quotaBytes, usedBytes: used, reservedBytes: reserved },
      });
    }
  }

  /** A file of `bytes` was stored for `userId`. */
  stored(userId: number, bytes: number): void {
    const used = this.used.get(userId);
    if (used) this.used.set(userId, used.then((n) => n + bytes));
  }
}
