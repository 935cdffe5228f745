/**
 * When and how soon ChatClient dials again after losing its connection: exponential backoff with
 * jitter (so a restarted server is not hit by every client at the same instant), and the
 * close reasons after which dialling again cannot help.
 */
import type { ErrorCode, SecureChatError } from '../errors.js';

export interface ReconnectOptions {
  /** First delay, ms (default 250). */
  initialDelayMs?: number;
  /** Ceiling of the delay, ms (default 10 000). */
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
  /** Randomness source in [0,1), for tests. */
  random?: () => number;
}

/** Reasons the server (or our own checks) gave that another attempt would only repeat. */
const FINAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'bad_certificate',
  'auth_failed',
  'name_mismatch',
  'account_disabled',
  'unsupported_version',
  'weak_password',
  'schema_too_new',
]);

/** Whether a connection that closed with `err` is worth dialling again. */
export function isRetryableClose(err: SecureChatError | undefined): boolean {
  if (!err) return true; // the peer went away without a word (a server restart, a network drop)
  // credentials_changed and similar codes added later are final too: the account changed under us.
  if ((err.code as string) === 'credentials_changed') return false;
  return !FINAL.has(err.code);
}

/** Delay before attempt `attempt` (0-based): uniform in [d/2, d) with d = min(max, initial·2^attempt). */
export function backoffDelay(attempt: number, o: ReconnectOptions = {}): number {
  const initial = o.initialDelayMs ?? 250;
  const max = o.maxDelayMs ?? 10_000;
  const d = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  const r = (o.random ?? Math.random)();
  return Math.round(d / 2 + (d / 2) * r);
}
