/** `--not-after` / `--next-update` values: a duration (90d, 24h, 30m, 2w, 1y) or an ISO-8601 date. */
import { SecureChatError } from '../errors.js';

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

export function parseDuration(value: string): number | undefined {
  const m = /^(\d+)([smhdwy])$/.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** Resolves a duration relative to `now`, or an absolute date; rejects anything not in the future. */
export function parseTimeSpec(value: string | Date, now: Date, flag = '--not-after'): Date {
  let at: Date;
  if (value instanceof Date) {
    at = value;
  } else {
    const ms = parseDuration(value);
    at = ms !== undefined ? new Date(now.getTime() + ms) : /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN);
  }
  if (Number.isNaN(at.getTime())) {
    throw new SecureChatError('usage', `${flag} "${String(value)}" is neither a duration (90d, 24h, 30m, 1y) nor an ISO-8601 date.`);
  }
  if (at.getTime() <= now.getTime()) {
    throw new SecureChatError('usage', `${flag} ${at.toISOString()} is not in the future.`);
  }
  return at;
}
