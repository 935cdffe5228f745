/**
 * The per-user storage quota: bytes a user has made the database keep — their files and the text
 * of their messages (DMs and group messages, UTF-8) — plus the bytes their unfinished uploads have
 * reserved in the spool. The stored total is read from the database once per user (sums over
 * their files and their text messages, the latter by the messages_sender index) and then kept up
 * to date as this node stores, so a send or an offer costs no query. (Another node's writes are
 * seen after a restart: the quota is a bound, not a ledger.)
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
      used = Promise.all([this.storage.fileBytesOf(userId), this.storage.textBytesOf(userId)]).then(([files, text]) => files + text);
      // A failed query is not cached: the next offer asks again.
      used.catch(() => this.used.delete(userId));
      this.used.set(userId, used);
    }
    return used;
  }

  /** quota_exceeded when `bytes` more (on top of `reserved` in the spool) would pass the quota. */
  async check(userId: number, bytes: number, reserved: number, what: 'file' | 'message' = 'file'): Promise<void> {
    const used = await this.usedBy(userId);
    if (used + reserved + bytes > this.quotaBytes) {
      throw new SecureChatError('quota_exceeded', `This ${what} needs ${bytes} bytes; ${Math.max(0, this.quotaBytes - used - reserved)} of your ${this.quotaBytes} are left.`, {
        details: { quotaBytes: this.quotaBytes, usedBytes: used, reservedBytes: reserved },
      });
    }
  }

  /** `bytes` (a file, or a message's text) were stored for `userId`. */
  stored(userId: number, bytes: number): void {
    const used = this.used.get(userId);
    if (used) this.used.set(userId, used.then((n) => n + bytes));
  }
}
