/**
 * Refuses a client_hello nonce seen within the timestamp window, and timestamps outside it.
 * Bounded and fail-closed: when every slot holds a nonce that could still be replayed, new
 * handshakes get `busy` instead of an entry being forgotten (forgetting would re-open the window).
 * Entries expire from a min-heap on their expiry time, O(log n) per handshake.
 *
 * Two steps, so that junk never fills the cache: `check` (clock and replay, no state) runs first,
 * `record` only once the hello is fully valid and its key share usable. Each source (the caller's
 * key, e.g. the client address) may hold at most `maxEntriesPerSource` entries: one address
 * flooding valid hellos gets `busy` itself, long before the shared cache is full.
 */
import { SecureChatError } from '../errors.js';
import { DEFAULT_REPLAY_WINDOW_MS, type ReplayGuardLike } from './types.js';

export interface ReplayGuardOptions {
  windowMs?: number;
  maxEntries?: number;
  /** Entries one source may hold (default: no share limit beyond maxEntries). */
  maxEntriesPerSource?: number;
}

interface Entry {
  expiresAt: number;
  key: string;
  source: string;
}

export class ReplayGuard implements ReplayGuardLike {
  readonly windowMs: number;
  readonly maxEntries: number;
  readonly maxEntriesPerSource: number;
  private readonly seen = new Set<string>();
  private readonly heap: Entry[] = [];
  private readonly perSource = new Map<string, number>();

  constructor(options: ReplayGuardOptions = {}) {
    this.windowMs = options.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.maxEntriesPerSource = Math.min(this.maxEntries, options.maxEntriesPerSource ?? this.maxEntries);
    if (!(this.windowMs > 0) || !(this.maxEntries > 0)) throw new SecureChatError('usage', 'ReplayGuard needs a positive window and size.');
  }

  get size(): number {
    return this.seen.size;
  }

  /** Entries held for `source` now. */
  entriesOf(source: string): number {
    return this.perSource.get(source) ?? 0;
  }

  /** Clock and replay checks only: nothing is stored, so a hello refused later leaves no trace. */
  check(nonce: Buffer, timestampMs: number, nowMs: number): void {
    if (!Number.isFinite(timestampMs) || Math.abs(timestampMs - nowMs) > this.windowMs) {
      throw new SecureChatError('clock_skew', undefined, { details: { windowMs: this.windowMs } });
    }
    this.expire(nowMs);
    if (this.seen.has(nonce.toString('base64'))) throw new SecureChatError('replay', 'This client_hello nonce was already used.');
  }

  /** Remembers the nonce of a hello that passed every check; `busy` when the cache or the source's share is full. */
  record(nonce: Buffer, timestampMs: number, nowMs: number, source = ''): void {
    this.check(nonce, timestampMs, nowMs);
    if (this.seen.size >= this.maxEntries) throw new SecureChatError('busy', undefined, { reason: 'replay_cache_full' });
    const mine = this.entriesOf(source);
    if (mine >= this.maxEntriesPerSource) throw new SecureChatError('busy', undefined, { reason: 'replay_cache_share' });
    const key = nonce.toString('base64');
    this.seen.add(key);
    this.perSource.set(source, mine + 1);
    // The same hello stays acceptable until its timestamp leaves the window, so remember it until then.
    this.push({ expiresAt: timestampMs + this.windowMs, key, source });
  }

  private expire(nowMs: number): void {
    while (this.heap.length > 0 && this.heap[0].expiresAt < nowMs) {
      const entry = this.pop();
      this.seen.delete(entry.key);
      const n = this.entriesOf(entry.source);
      if (n <= 1) this.perSource.delete(entry.source);
      else this.perSource.set(entry.source, n - 1);
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
