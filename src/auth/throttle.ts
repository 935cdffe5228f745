/**
 * Failed-login throttling. Failures are counted in a sliding window in three buckets:
 *  - (account, source IP): the main limit — after `maxFailures` (5) in `windowMs` (15 min), each
 *    further attempt must wait an exponentially growing delay (1 s, 2 s, 4 s … capped at 15 min);
 *  - source IP across all accounts: looser (20), against one address trying many accounts;
 *  - account across all IPs: looser still (50), against distributed guessing — but it does not
 *    apply to an address that logged in to that account successfully before, so an attacker
 *    elsewhere cannot lock the real user out.
 * Memory is bounded: each map is an LRU of at most `maxEntries`. The clock is injected.
 * Known sources are only a cache here: AccountService persists them (storage login_sources) and
 * calls `markKnown` for a pair the database remembers, so a restart does not forget them.
 */
import { SecureChatError } from '../errors.js';

export interface ThrottleOptions {
  maxFailures?: number;
  ipMaxFailures?: number;
  accountMaxFailures?: number;
  windowMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How long a successful (account, IP) pair stays trusted against the account-wide limit. */
  knownSourceTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

interface Bucket {
  failures: number[];
  blockedUntil: number;
}

export interface Attempt {
  username: string;
  ip: string;
}

/** A Map used as an LRU: touching re-inserts, overflowing drops the least recently used. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  get size(): number {
    return this.map.size;
  }
}

/** What AccountService needs of a throttle: this in-memory one, or the cluster-wide one (cluster/throttle.ts). */
export interface LoginThrottleLike {
  isKnownSource(a: Attempt): boolean | Promise<boolean>;
  check(a: Attempt): void | Promise<void>;
  recordFailure(a: Attempt): void | Promise<void>;
  markKnown(a: Attempt, at: number): void | Promise<void>;
  recordSuccess(a: Attempt): void | Promise<void>;
}

export interface ThrottleLimits {
  maxFailures: number;
  ipMaxFailures: number;
  accountMaxFailures: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export class LoginThrottle implements LoginThrottleLike {
  readonly o: Required<Omit<ThrottleOptions, 'now'>>;
  private readonly now: () => number;
  private readonly buckets: Lru<Bucket>;
  private readonly known: Lru<number>;

  constructor(options: ThrottleOptions = {}) {
    this.o = {
      maxFailures: options.maxFailures ?? 5,
      ipMaxFailures: options.ipMaxFailures ?? 20,
      accountMaxFailures: options.accountMaxFailures ?? 50,
      windowMs: options.windowMs ?? 15 * 60_000,
      baseDelayMs: options.baseDelayMs ?? 1000,
      maxDelayMs: options.maxDelayMs ?? 15 * 60_000,
      knownSourceTtlMs: options.knownSourceTtlMs ?? 30 * 24 * 3600_000,
      maxEntries: options.maxEntries ?? 10_000,
    };
    this.now = options.now ?? Date.now;
    this.buckets = new Lru(this.o.maxEntries);
    this.known = new Lru(this.o.maxEntries);
  }

  /** Number of tracked buckets (for tests of the memory bound). */
  get trackedEntries(): number {
    return this.buckets.size + this.known.size;
  }

  private keys(a: Attempt): Array<[key: string, limit: number]> {
    const account = a.username.toLowerCase();
    const keys: Array<[string, number]> = [
      [`pair\u0000${account}\u0000${a.ip}`, this.o.maxFailures],
      [`ip\u0000${a.ip}`, this.o.ipMaxFailures],
    ];
    if (!this.isKnownSource(a)) keys.push([`acct\u0000${account}`, this.o.accountMaxFailures]);
    return keys;
  }

  private knownKey(a: Attempt): string {
    return `${a.username.toLowerCase()}\u0000${a.ip}`;
  }

  /** Whether `a` logged in to this account successfully within knownSourceTtlMs (as far as this cache knows). */
  isKnownSource(a: Attempt): boolean {
    const at = this.known.get(this.knownKey(a));
    return at !== undefined && this.now() - at < this.o.knownSourceTtlMs;
  }

  /** Throws SecureChatError('throttled', …, {details: {retryAfterMs}}) while any bucket is blocked. */
  check(a: Attempt): void {
    const now = this.now();
    let retryAfterMs = 0;
    for (const [key] of this.keys(a)) {
      const b = this.buckets.get(key);
      if (b && b.blockedUntil > now) retryAfterMs = Math.max(retryAfterMs, b.blockedUntil - now);
    }
    if (retryAfterMs > 0) {
      throw new SecureChatError('throttled', `Too many failed attempts; retry in ${Math.ceil(retryAfterMs / 1000)} s.`, {
        details: { retryAfterMs },
      });
    }
  }

  recordFailure(a: Attempt): void {
    const now = this.now();
    for (const [key, limit] of this.keys(a)) {
      const b = this.buckets.get(key) ?? { failures: [], blockedUntil: 0 };
      b.failures = b.failures.filter((t) => now - t < this.o.windowMs);
      b.failures.push(now);
      // Keep only what the limit needs: memory per bucket stays bounded too.
      if (b.failures.length > limit + 32) b.failures.splice(0, b.failures.length - (limit + 32));
      const over = b.failures.length - limit;
      if (over >= 0) {
        const delay = Math.min(this.o.baseDelayMs * 2 ** Math.min(over, 40), this.o.maxDelayMs);
        b.blockedUntil = Math.max(b.blockedUntil, now + delay);
      }
      this.buckets.set(key, b);
    }
  }

  /** Trusts a pair that succeeded at `at` (read back from storage after a restart). */
  markKnown(a: Attempt, at: number): void {
    if (this.now() - at < this.o.knownSourceTtlMs) this.known.set(this.knownKey(a), at);
  }

  /** A success clears the (account, IP) bucket and trusts that address for this account. */
  recordSuccess(a: Attempt): void {
    this.buckets.delete(`pair\u0000${a.username.toLowerCase()}\u0000${a.ip}`);
    this.known.set(this.knownKey(a), this.now());
  }
}
