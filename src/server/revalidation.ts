/**
 * Keeps live sessions' certificates honest without re-validating everything (issue 9 §4).
 * - Expiry: each session is filed under the earliest notAfter of its path in one binary min-heap
 *   with one timer for the whole heap (not one per session); when the head's time comes, exactly
 *   the sessions whose certificate ran out are closed (bad_certificate, reason expired).
 * - Revocation: each session is indexed by the serials of its path's non-anchor certificates; on a
 *   CRL change only the sessions holding a revoked serial are re-validated in full (the issuer
 *   check is the validator's), so a sweep costs O(revoked serials), not O(sessions × path).
 * The timer never sleeps longer than `maxDelayMs`, so a wall-clock jump is noticed soon. Both
 * sweeps work in slices of at most SLICE_MS and yield to the event loop in between, so even a
 * mass revocation or a batch of certificates expiring together does not stall other sessions
 * (scripts/bench/revalidation.ts measures it at 10,000 sessions).
 */
import { performance } from 'node:perf_hooks';
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PeerIdentity } from './session.js';

/** What the revalidator needs of a session (Session satisfies it; the bench uses stubs). */
export interface Revalidatable {
  readonly id: string;
  readonly username: string;
  readonly identity: PeerIdentity;
  readonly closed: boolean;
  fail(err: SecureChatError): void;
}

export interface RevalidatorOptions {
  /** Re-validates a path in full; throws SecureChatError('bad_certificate') when it no longer holds. */
  verify: (path: Buffer[]) => void;
  log: Logger;
  now?: () => number;
  /** Longest single sleep of the expiry timer (default 60 s). */
  maxDelayMs?: number;
}

/** Longest stretch a sweep keeps the event loop before yielding. */
const SLICE_MS = 5;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface HeapEntry {
  at: number;
  session: Revalidatable;
}

export class Revalidator {
  private readonly heap: HeapEntry[] = [];
  private readonly bySerial = new Map<string, Set<Revalidatable>>();
  private readonly live = new Set<Revalidatable>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private stopped = false;
  private sweeping = false;
  private readonly now: () => number;
  private readonly maxDelayMs: number;

  constructor(private readonly options: RevalidatorOptions) {
    this.now = options.now ?? Date.now;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  get size(): number {
    return this.live.size;
  }

  track(session: Revalidatable): void {
    if (this.live.has(session)) return;
    this.live.add(session);
    for (const serial of session.identity.serials) {
      let set = this.bySerial.get(serial);
      if (!set) this.bySerial.set(serial, (set = new Set()));
      set.add(session);
    }
    // Valid through notAfter inclusive: expired from the next millisecond on.
    this.push({ at: session.identity.notAfter + 1, session });
    this.arm();
  }

  untrack(session: Revalidatable): void {
    if (!this.live.delete(session)) return;
    for (const serial of session.identity.serials) {
      const set = this.bySerial.get(serial);
      set?.delete(session);
      if (set?.size === 0) this.bySerial.delete(serial);
    }
    // Heap entries are dropped lazily; compact when the dead outnumber the living.
    if (this.heap.length > 64 && this.heap.length > 2 * this.live.size) this.compact();
  }

  /**
   * After a CRL change: re-validates only the sessions whose path holds one of `revokedSerials`
   * (normalised hex, as ParsedCert.serialHex). Resolves with how many sessions were closed. New
   * handshakes already see the new CRL, so yielding between slices lets nobody revoked in.
   */
  async revoked(revokedSerials: Iterable<string>): Promise<number> {
    const suspects = new Set<Revalidatable>();
    for (const serial of revokedSerials) for (const s of this.bySerial.get(serial) ?? []) suspects.add(s);
    let closed = 0;
    let sliceStart = performance.now();
    for (const session of suspects) {
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
      if (!this.live.has(session) || session.closed) continue;
      try {
        this.options.verify(session.identity.path);
      } catch (err) {
        this.close(session, toSecureChatError(err));
        closed++;
      }
    }
    return closed;
  }

  /** Closes every session whose certificate has expired by now, slice by slice; resolves with how many. */
  async sweepExpired(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    let closed = 0;
    try {
      for (;;) {
        closed += this.sweepSlice();
        if (this.heap.length === 0 || this.heap[0].at > this.now() || this.stopped) return closed;
        await yieldToLoop();
      }
    } finally {
      this.sweeping = false;
    }
  }

  private sweepSlice(): number {
    const now = this.now();
    const start = performance.now();
    let closed = 0;
    while (this.heap.length > 0 && this.heap[0].at <= now && performance.now() - start <= SLICE_MS) {
      const { session } = this.pop();
      if (!this.live.has(session) || session.closed) continue;
      this.close(session, new SecureChatError('bad_certificate', 'The client certificate expired during the session.', { reason: 'expired' }));
      closed++;
    }
    return closed;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private close(session: Revalidatable, err: SecureChatError): void {
    const scErr = err.code === 'bad_certificate' ? err : new SecureChatError('bad_certificate', undefined, { reason: 'untrusted' });
    this.options.log.warn(`[Server] Certificate validation failed: ${scErr.reason ?? scErr.code} — closing a live session`, {
      session: session.id, user: session.username, reason: scErr.reason,
    });
    this.untrack(session);
    session.fail(scErr);
  }

  private arm(): void {
    if (this.stopped || this.heap.length === 0) return;
    const due = this.heap[0].at;
    if (this.timer && due >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(due - this.now(), this.maxDelayMs));
    this.timerAt = this.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      void this.sweepExpired().then(() => this.arm());
    }, delay);
    this.timer.unref();
  }

  private compact(): void {
    const keep = this.heap.filter((e) => this.live.has(e.session) && !e.session.closed);
    this.heap.length = 0;
    for (const e of keep) this.push(e);
  }

  private push(entry: HeapEntry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].at <= h[i].at) break;
      [h[parent], h[i]] = [h[i], h[parent]];
      i = parent;
    }
  }

  private pop(): HeapEntry {
    const h = this.heap;
    const top = h[0];
    const last = h.pop() as HeapEntry;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l].at < h[m].at) m = l;
        if (r < h.length && h[r].at < h[m].at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
