/**
 * Token buckets per key (a client address) plus one shared by all keys, for endpoints an
 * unauthenticated client may call (POST /api/enrol). Bounded: at most `maxKeys` buckets are kept,
 * least recently used first out. An evicted key starts again with a full bucket, which is why the
 * global bucket exists: however many addresses an attacker has, the total stays bounded.
 */
export interface KeyedRateLimits {
  /** Sustained requests per minute from one key; also its burst. */
  perKeyPerMinute: number;
  /** Sustained requests per minute over all keys; also the burst. */
  globalPerMinute: number;
  /** Buckets remembered at once. */
  maxKeys: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

export class KeyedRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly global: Bucket;

  constructor(
    private readonly limits: KeyedRateLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.global = { tokens: limits.globalPerMinute, at: now() };
  }

  get trackedKeys(): number {
    return this.buckets.size;
  }

  /** Takes one token from the key's bucket and the global one, or says how long to wait. */
  take(key: string): Admission {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) this.buckets.delete(key); // re-inserted below: Map order is recency
    else bucket = { tokens: this.limits.perKeyPerMinute, at: now };
    this.buckets.set(key, bucket);
    while (this.buckets.size > this.limits.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    const own = refill(bucket, this.limits.perKeyPerMinute, now);
    const all = refill(this.global, this.limits.globalPerMinute, now);
    if (own < 1 || all < 1) {
      const wait = Math.max(own < 1 ? waitMs(own, this.limits.perKeyPerMinute) : 0, all < 1 ? waitMs(all, this.limits.globalPerMinute) : 0);
      return { ok: false, retryAfterMs: wait };
    }
    bucket.tokens -= 1;
    this.global.tokens -= 1;
    return { ok: true };
  }
}

function refill(b: Bucket, perMinute: number, now: number): number {
  b.tokens = Math.min(perMinute, b.tokens + ((now - b.at) / 60_000) * perMinute);
  b.at = now;
  return b.tokens;
}

const waitMs = (tokens: number, perMinute: number): number => Math.max(1, Math.ceil(((1 - tokens) / perMinute) * 60_000));
