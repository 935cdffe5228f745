/**
 * Per-user request budget: one token bucket per account name, shared by all its logged-in sessions
 * on this node (a client cannot multiply its budget by opening more sessions), on top of each
 * session's own bucket (rate.ts). In a cluster every node reports what each user spent to the
 * others once per sync interval (cluster/node.ts, bus message `urate`), and each node takes the
 * others' spending out of its own bucket for the user: one budget cluster-wide, within the
 * tolerance documented in docs/CLUSTER.md. Bounded: at most `maxUsers` buckets, idle full ones swept.
 */
import { SecureChatError } from '../errors.js';

export interface UserRateLimits {
  /** Sustained tokens per second for all of a user's sessions together (0 = no per-user limit). */
  requestsPerSecond: number;
  /** Bucket size. */
  burst: number;
}

export const DEFAULT_USER_RATE: UserRateLimits = { requestsPerSecond: 500, burst: 2000 };

interface UserBucket {
  tokens: number;
  last: number;
  /** Tokens spent here since the last drainSpent() (what the other nodes are told). */
  spent: number;
}

export class UserRates {
  private readonly buckets = new Map<string, UserBucket>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    readonly limits: UserRateLimits,
    private readonly now: () => number = Date.now,
    readonly maxUsers = 100_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), 10_000);
    this.sweeper.unref();
  }

  get enabled(): boolean {
    return this.limits.requestsPerSecond > 0 && this.limits.burst > 0;
  }

  get size(): number {
    return this.buckets.size;
  }

  private bucket(user: string, create: boolean): UserBucket | undefined {
    let b = this.buckets.get(user);
    const now = this.now();
    if (!b) {
      if (!create || this.buckets.size >= this.maxUsers) return undefined;
      b = { tokens: this.limits.burst, last: now, spent: 0 };
      this.buckets.set(user, b);
    }
    b.tokens = Math.min(this.limits.burst, b.tokens + ((now - b.last) / 1000) * this.limits.requestsPerSecond);
    b.last = now;
    return b;
  }

  /** Throws rate_limited (reason user_rate) when the user's budget cannot pay `cost` now. */
  check(user: string, cost: number): void {
    if (!this.enabled) return;
    const b = this.bucket(user, true);
    // Full table: this user is limited per session only (fails open; the table holds live users).
    if (!b) return;
    if (b.tokens < Math.min(cost, this.limits.burst)) {
      const retryAfterMs = Math.max(1, Math.ceil(((Math.min(cost, this.limits.burst) - b.tokens) / this.limits.requestsPerSecond) * 1000));
      throw new SecureChatError('rate_limited', `Too many requests from this account (all its sessions); retry in ${retryAfterMs} ms.`, {
        reason: 'user_rate',
        details: { retryAfterMs },
      });
    }
  }

  /** Spends `cost` of the user's budget (after check and the session's own admission). */
  take(user: string, cost: number): void {
    if (!this.enabled || cost <= 0) return;
    const b = this.bucket(user, true);
    if (!b) return;
    b.tokens -= cost;
    b.spent += cost;
  }

  /** What the user spent on other nodes: taken out of the bucket here (debt bounded by one burst). */
  spentElsewhere(user: string, tokens: number): void {
    if (!this.enabled || !(tokens > 0)) return;
    const b = this.bucket(user, true);
    if (b) b.tokens = Math.max(-this.limits.burst, b.tokens - tokens);
  }

  /** The tokens each user spent here since the last call, and a fresh count (cluster sync). */
  drainSpent(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [user, b] of this.buckets) {
      if (b.spent > 0) out.set(user, b.spent);
      b.spent = 0;
    }
    return out;
  }

  /** Drops buckets that refilled and have nothing to report: what an idle user costs is nothing. */
  sweep(): void {
    for (const [user] of this.buckets) {
      const b = this.bucket(user, false);
      if (b && b.tokens >= this.limits.burst && b.spent === 0) this.buckets.delete(user);
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
