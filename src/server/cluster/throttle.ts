/**
 * Failed-login throttling shared by every node: the same three buckets as auth/throttle.ts ((account,
 * IP), IP, account unless the address is known), counted in SharedCounters and blocked through
 * SharedSet keys, so guessing spread over the nodes is throttled as if they were one.
 *
 * Tolerance (docs/CLUSTER.md): the window is fixed from a bucket's first failure rather than
 * sliding, and failures that race on several nodes may each pass the check before one of them sets
 * the block (at most one extra attempt per node). Known addresses live in the database
 * (login_sources) and in each node's cache, as on one node. While the bus is down each node
 * throttles on its own (the in-memory throttle), logged and counted.
 */
import { SecureChatError, toSecureChatError } from '../../errors.js';
import { LoginThrottle, type Attempt, type LoginThrottleLike, type ThrottleOptions } from '../../auth/throttle.js';
import type { BusFailures } from './failures.js';
import type { SharedCounters, SharedSet } from './types.js';

export class SharedLoginThrottle implements LoginThrottleLike {
  /** Known sources, and the whole throttle while the bus is unreachable. */
  readonly local: LoginThrottle;

  constructor(
    private readonly counters: SharedCounters,
    private readonly set: SharedSet,
    private readonly failures: BusFailures,
    options: ThrottleOptions = {},
  ) {
    this.local = new LoginThrottle(options);
  }

  private buckets(a: Attempt): Array<[key: string, limit: number]> {
    const o = this.local.o;
    const account = a.username.toLowerCase();
    const keys: Array<[string, number]> = [
      [`login:pair\u0000${account}\u0000${a.ip}`, o.maxFailures],
      [`login:ip\u0000${a.ip}`, o.ipMaxFailures],
    ];
    if (!this.local.isKnownSource(a)) keys.push([`login:acct\u0000${account}`, o.accountMaxFailures]);
    return keys;
  }

  isKnownSource(a: Attempt): boolean {
    return this.local.isKnownSource(a);
  }

  markKnown(a: Attempt, at: number): void {
    this.local.markKnown(a, at);
  }

  async check(a: Attempt): Promise<void> {
    let retryAfterMs: number;
    try {
      const left = await Promise.all(this.buckets(a).map(([key]) => this.set.remainingMs(`block:${key}`)));
      retryAfterMs = Math.max(0, ...left);
    } catch (err) {
      this.failures.failed('login_throttle', toSecureChatError(err));
      return this.local.check(a);
    }
    if (retryAfterMs > 0) {
      throw new SecureChatError('throttled', `Too many failed attempts; retry in ${Math.ceil(retryAfterMs / 1000)} s.`, { details: { retryAfterMs } });
    }
  }

  async recordFailure(a: Attempt): Promise<void> {
    // Counted locally too, so an outage starting now does not hand out a fresh budget.
    this.local.recordFailure(a);
    const o = this.local.o;
    try {
      await Promise.all(
        this.buckets(a).map(async ([key, limit]) => {
          const n = await this.counters.incr(`fail:${key}`, o.windowMs);
          const over = n - limit;
          if (over >= 0) await this.set.put(`block:${key}`, Math.min(o.baseDelayMs * 2 ** Math.min(over, 40), o.maxDelayMs));
        }),
      );
    } catch (err) {
      this.failures.failed('login_throttle', toSecureChatError(err));
    }
  }

  async recordSuccess(a: Attempt): Promise<void> {
    this.local.recordSuccess(a);
    const key = `login:pair\u0000${a.username.toLowerCase()}\u0000${a.ip}`;
    try {
      await Promise.all([this.counters.reset(`fail:${key}`), this.set.delete(`block:${key}`)]);
    } catch (err) {
      this.failures.failed('login_throttle', toSecureChatError(err));
    }
  }
}
