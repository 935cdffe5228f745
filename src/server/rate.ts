/**
 * Per-session flow limits: a token bucket on requests, and a cap on the bytes of requests being
 * processed at once, so one client can neither flood the server nor make it hold unbounded input.
 */
import { SecureChatError } from '../errors.js';

export interface RateLimits {
  /** Sustained requests per second (file chunks cost 0: they are bounded by bytes instead). */
  requestsPerSecond: number;
  /** Bucket size: how many requests may come in a burst. */
  burst: number;
  /** Bytes of requests in progress (received, not yet answered). */
  maxInflightBytes: number;
}

export class SessionRate {
  private tokens: number;
  private last = Date.now();
  private inflight = 0;

  constructor(private readonly limits: RateLimits) {
    this.tokens = limits.burst;
  }

  /** Throws rate_limited when over either limit; otherwise reserves `bytes` until `settle`. */
  admit(cost: number, bytes: number): void {
    const now = Date.now();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.last) / 1000) * this.limits.requestsPerSecond);
    this.last = now;
    if (this.tokens < cost) {
      const retryAfterMs = Math.ceil(((cost - this.tokens) / this.limits.requestsPerSecond) * 1000);
      throw new SecureChatError('rate_limited', `Too many requests; retry in ${retryAfterMs} ms.`, { details: { retryAfterMs } });
    }
    if (this.inflight + bytes > this.limits.maxInflightBytes) {
      throw new SecureChatError('rate_limited', 'Too much data in flight; wait for responses before sending more.', {
        details: { inflightBytes: this.inflight },
      });
    }
    this.tokens -= cost;
    this.inflight += bytes;
  }

  settle(bytes: number): void {
    this.inflight = Math.max(0, this.inflight - bytes);
  }
}
