/**
 * Refuses a client_hello nonce seen within the timestamp window, and timestamps outside it.
 * Bounded and fail-closed: when every slot holds a nonce that could still be replayed, new
 * handshakes get `busy` instead of an entry being forgotten (forgetting would re-open the window).
 * Entries expire from a min-heap on their expiry time, O(log n) per handshake.
 */
import { SecureChatError } from '../errors.js';
import { DEFAULT_REPLAY_WINDOW_MS, type ReplayGuardLike } from './types.js';

export interface ReplayGuardOptions {
  windowMs?: number;
  maxEntries?: number;
}

interface Entry {
  expiresAt: number;
  key: string;
}

export class ReplayGuard implements ReplayGuardLike {
  readonly windowMs: number;
  readonly maxEntries: number;
  private readonly seen = new Set<string>();
  private readonly heap: Entry[] = [];

  constructor(options: ReplayGuardOptions = {}) {
    this.windowMs = options.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    this.maxEntries = options.maxEntries ?? 100_000;
    if (!(this.windowMs > 0) || !(this.maxEntries > 0)) throw new SecureChatError('usage', 'ReplayGuard needs a positive window and size.');
  }

  get size(): number {
    return this.seen.size;
  }

  check(nonce: Buffer, timestampMs: number, nowMs: number): void {
    if (!Number.isFinite(timestampMs) || Math.abs(timestampMs - nowMs) > this.windowMs) {
      throw new SecureChatError('clock_skew', undefined, { details: { windowMs: this.windowMs } });
    }
    this.expire(nowMs);
    const key = nonce.toString('base64');
    if (this.seen.has(key)) throw new SecureChatError('replay', 'This client_hello nonce was already used.');
    if (this.seen.size >= this.maxEntries) throw new SecureChatError('busy', undefined, { reason: 'replay_cache_full' });
    this.seen.add(key);
    // The same hello stays acceptable until its timestamp leaves the window, so remember it until then.
    this.push({ expiresAt: timestampMs + this.windowMs, key });
  }

  private expire(nowMs: number): void {
    while (this.heap.length > 0 && this.heap[0].expiresAt < nowMs) {
      this.seen.delete(this.pop().key);
    }
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].expiresAt <= h[i].expiresAt) break;
      [h[parent], h[i]] = [h[i], h[parent]];
      i = parent;
    }
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0];
    const last = h.pop() as Entry;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      while (true) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < h.length && h[l].expiresAt < h[smallest].expiresAt) smallest = l;
        if (r < h.length && h[r].expiresAt < h[smallest].expiresAt) smallest = r;
        if (smallest === i) break;
        [h[smallest], h[i]] = [h[i], h[smallest]];
        i = smallest;
      }
    }
    return top;
  }
}
