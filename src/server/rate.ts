/**
 * Per-session flow limits: a token bucket on requests (every request costs tokens in proportion
 * to its work, pings and acks included), a smaller bucket before login, and a cap on the bytes of
 * requests being processed at once, so one client can neither flood the server nor make it hold
 * unbounded input.
 */
import { SecureChatError } from '../errors.js';

export interface RateLimits {
  /** Sustained tokens per second once logged in (a plain request costs 1). */
  requestsPerSecond: number;
  /** Bucket size: how many tokens may be spent in a burst. */
  burst: number;
  /** Bytes of requests in progress (received, not yet answered). */
  maxInflightBytes: number;
  /** Tokens per second before login: enough for a login and keepalives, not for a flood. */
  preLoginRequestsPerSecond?: number;
  /** Bucket size before login. */
  preLoginBurst?: number;
}

export const DEFAULT_PRE_LOGIN_RATE = { requestsPerSecond: 5, burst: 20 } as const;

class Bucket {
  private tokens: number;
  private last = Date.now();

  constructor(
    readonly perSecond: number,
    readonly size: number,
  ) {
    this.tokens = size;
  }

  /** Tokens available now (refilled for the time elapsed). */
  available(): number {
    const now = Date.now();
    this.tokens = Math.min(this.size, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    return this.tokens;
  }

  take(cost: number): void {
    this.tokens -= cost;
  }

  retryAfterMs(cost: number): number {
    return Math.max(1, Math.ceil(((Math.min(cost, this.size) - this.tokens) / this.perSecond) * 1000));
  }
}

export class SessionRate {
  private readonly loggedIn: Bucket;
  private readonly preLogin: Bucket;
  private inflight = 0;
  /** Requests refused since the last one admitted: a client that ignores rate_limited keeps counting. */
  private strikes = 0;

  constructor(private readonly limits: RateLimits) {
    this.loggedIn = new Bucket(limits.requestsPerSecond, limits.burst);
    this.preLogin = new Bucket(
      Math.min(limits.requestsPerSecond, limits.preLoginRequestsPerSecond ?? DEFAULT_PRE_LOGIN_RATE.requestsPerSecond),
      Math.min(limits.burst, limits.preLoginBurst ?? DEFAULT_PRE_LOGIN_RATE.burst),
    );
  }

  /** Refusals in a row; the session stops reading a client that keeps sending past its budget. */
  get refusedInARow(): number {
    return this.strikes;
  }

  get burst(): number {
    return this.limits.burst;
  }

  /** The buckets a request draws on: the session's, and before login the small pre-login one too. */
  private bucketsFor(loggedIn: boolean): Bucket[] {
    return loggedIn ? [this.loggedIn] : [this.loggedIn, this.preLogin];
  }

  /** Throws rate_limited when over either limit; otherwise reserves `bytes` until `settle`. */
  admit(cost: number, bytes: number, loggedIn: boolean): void {
    for (const bucket of this.bucketsFor(loggedIn)) {
      // A request dearer than the whole bucket could never pass: let it through on a full bucket.
      if (bucket.available() < Math.min(cost, bucket.size)) {
        this.strikes++;
        const retryAfterMs = bucket.retryAfterMs(cost);
        throw new SecureChatError('rate_limited', `Too many requests; retry in ${retryAfterMs} ms.`, { details: { retryAfterMs } });
      }
    }
    if (this.inflight + bytes > this.limits.maxInflightBytes) {
      this.strikes++;
      throw new SecureChatError('rate_limited', 'Too much data in flight; wait for responses before sending more.', {
        details: { inflightBytes: this.inflight, retryAfterMs: 100 },
      });
    }
    this.strikes = 0;
    for (const bucket of this.bucketsFor(loggedIn)) bucket.take(cost);
    this.inflight += bytes;
  }

  /** For messages that get no response (ping): true and charged, or false (the caller drops it). */
  tryTake(cost: number, loggedIn: boolean): boolean {
    const buckets = this.bucketsFor(loggedIn);
    if (buckets.some((b) => b.available() < cost)) {
      // A dropped message is a refusal too: a client that keeps sending them is not read for a while.
      this.strikes++;
      return false;
    }
    this.strikes = 0;
    for (const b of buckets) b.take(cost);
    return true;
  }

  settle(bytes: number): void {
    this.inflight = Math.max(0, this.inflight - bytes);
  }
}
