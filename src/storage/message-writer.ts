/**
 * Group commit for message appends: calls made while a batch is being written (or in the same
 * tick) are queued and written together in ONE transaction, so durable throughput is one fsync per
 * batch, not per message. Batches are written one at a time, which also keeps server ids in commit
 * order (a cursor never skips an id that commits later).
 *
 * A promise resolves only after its batch committed. If the batch fails because the database is
 * unavailable, every message in it is rejected with storage_unavailable and none was stored. If it
 * fails for another reason (say one message names a deleted conversation), the messages are
 * retried one by one so that only the bad one fails.
 */
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { NewMessage, StoredMessage } from './types.js';

export type BatchWriter = (messages: NewMessage[]) => Promise<StoredMessage[]>;

/**
 * Default largest batch. A batch is one transaction and one fsync, so under load bigger batches
 * mean fewer fsyncs (bench: 1,024 appends in flight, 256 → 1,024 raised SQLite 136k → 346k/s and
 * MySQL 67k → 85k/s); under light load batches stay small on their own.
 */
export const DEFAULT_MAX_BATCH = 1024;
/** Body characters per batch, so a burst of 64 KiB messages does not become one huge transaction. */
const MAX_BATCH_CHARS = 8 * 1024 * 1024;

interface Queued {
  message: NewMessage;
  resolve: (stored: StoredMessage) => void;
  reject: (err: SecureChatError) => void;
}

export class MessageWriter {
  private queue: Queued[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly writeBatch: BatchWriter,
    private readonly maxBatch = DEFAULT_MAX_BATCH,
  ) {}

  append(message: NewMessage): Promise<StoredMessage> {
    if (this.closed) return Promise.reject(new SecureChatError('storage_unavailable', undefined, { reason: 'closed' }));
    return new Promise<StoredMessage>((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.chain = this.chain.then(() => this.drain());
        });
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.write(this.takeBatch());
  }

  /** Up to maxBatch messages and MAX_BATCH_CHARS of body, at least one. */
  private takeBatch(): Queued[] {
    let n = 0;
    let chars = 0;
    const limit = Math.min(this.queue.length, this.maxBatch);
    while (n < limit) {
      chars += this.queue[n].message.body.length;
      if (n > 0 && chars > MAX_BATCH_CHARS) break;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async write(batch: Queued[]): Promise<void> {
    try {
      const stored = await this.writeBatch(batch.map((q) => q.message));
      batch.forEach((q, i) => q.resolve(stored[i]));
    } catch (err) {
      const scErr = toSecureChatError(err);
      if (scErr.code === 'storage_unavailable' || batch.length === 1) {
        for (const q of batch) q.reject(scErr);
        return;
      }
      for (const q of batch) await this.write([q]);
    }
  }

  /** Waits until everything queued so far is written (or rejected), then refuses new appends. */
  async close(): Promise<void> {
    this.closed = true;
    await new Promise((r) => setImmediate(r));
    await this.chain;
    await this.drain();
  }
}
