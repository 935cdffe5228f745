/**
 * Log lines for refused connections and handshakes, rate-limited: the first `perInterval` lines of
 * each interval are written as usual, the rest are only counted (by code) and summarised in one
 * line when the interval ends. A flood of bad hellos then costs a line per interval, not per try.
 * The counters are bounded too (`maxCodes` keys, the rest under "other"), so the summary stays one
 * short line whatever the keys are made of.
 */
import type { Logger } from '../log.js';

export interface RefusalLogOptions {
  intervalMs?: number;
  perInterval?: number;
  /** Distinct codes counted per interval; further codes are counted under "other". */
  maxCodes?: number;
}

export class RefusalLog {
  private readonly intervalMs: number;
  private readonly perInterval: number;
  private readonly maxCodes: number;
  private logged = 0;
  private readonly suppressed = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    options: RefusalLogOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.perInterval = options.perInterval ?? 20;
    this.maxCodes = options.maxCodes ?? 32;
  }

  /** Writes `line` (warn) unless this interval's budget is spent; then counts it under `code`. */
  warn(code: string, message: string, fields: Record<string, unknown>): void {
    this.startInterval();
    if (this.logged < this.perInterval) {
      this.logged++;
      this.log.warn(message, fields);
      return;
    }
    const key = this.suppressed.has(code) || this.suppressed.size < this.maxCodes ? code : 'other';
    this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
  }

  /** Flushes the summary now (tests, shutdown). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.endInterval();
  }

  private startInterval(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.endInterval();
    }, this.intervalMs);
    this.timer.unref();
  }

  private endInterval(): void {
    this.logged = 0;
    if (this.suppressed.size === 0) return;
    const counts = Object.fromEntries(this.suppressed);
    const total = [...this.suppressed.values()].reduce((a, b) => a + b, 0);
    this.suppressed.clear();
    this.log.warn(`${total} more refused connections/handshakes in the last ${Math.round(this.intervalMs / 1000)} s (not logged one by one)`, { counts });
  }
}
