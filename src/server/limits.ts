/**
 * Admission limits at the door, before and right after the handshake:
 *  - HandshakeLimiter: handshakes in progress, globally and per source address. When the global
 *    budget is full, a newcomer from an address holding less than its fair share evicts the oldest
 *    pending handshake of the address holding the most, so a flood from a few addresses cannot take
 *    every slot (silent sockets count: a slot is held from accept until the handshake ends).
 *  - ConnectionCounts: open connections (handshaking or established) per key, for the per-address,
 *    per-certificate and per-user session caps.
 *  - FdBudget: the process's soft RLIMIT_NOFILE minus a reserve; new connections are refused with
 *    `busy` before the server runs out, so established sessions and the database keep working.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { SecureChatError } from '../errors.js';

export interface HandshakeLimits {
  maxHandshakes: number;
  maxHandshakesPerIp: number;
}

/** One pending handshake's slot; `evict` ends that handshake (the server refuses it with busy). */
export interface HandshakeTicket {
  readonly ip: string;
  released: boolean;
  evict: () => void;
}

export class HandshakeLimiter {
  private total = 0;
  /** Per address, the pending tickets oldest first. */
  private readonly perIp = new Map<string, HandshakeTicket[]>();

  constructor(private readonly limits: HandshakeLimits) {}

  /** Takes a slot for `ip` (evicting an over-share holder if the budget is full); null when refused. */
  tryAcquire(ip: string, evict: () => void): HandshakeTicket | null {
    const mine = this.perIp.get(ip)?.length ?? 0;
    if (mine >= this.limits.maxHandshakesPerIp) return null;
    if (this.total >= this.limits.maxHandshakes && !this.evictFromLargest(mine)) return null;
    const ticket: HandshakeTicket = { ip, released: false, evict };
    const list = this.perIp.get(ip);
    if (list) list.push(ticket);
    else this.perIp.set(ip, [ticket]);
    this.total++;
    return ticket;
  }

  release(ticket: HandshakeTicket): void {
    if (ticket.released) return;
    ticket.released = true;
    const list = this.perIp.get(ticket.ip);
    if (!list) return;
    const i = list.indexOf(ticket);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.perIp.delete(ticket.ip);
    this.total--;
  }

  get inProgress(): number {
    return this.total;
  }

  /** Frees the oldest slot of the address holding the most, if it holds more than `mine + 1`. */
  private evictFromLargest(mine: number): boolean {
    let largest: HandshakeTicket[] | undefined;
    for (const list of this.perIp.values()) if (!largest || list.length > largest.length) largest = list;
    if (!largest || largest.length <= mine + 1) return false;
    const victim = largest[0];
    this.release(victim);
    victim.evict();
    return true;
  }
}

/** Counts by key (address, certificate, user) with a cap each; zero counts are forgotten. */
export class ConnectionCounts {
  private readonly counts = new Map<string, number>();

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.counts.set(key, this.get(key) + 1);
  }

  remove(key: string): void {
    const n = this.get(key);
    if (n <= 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
  }
}

/** Reads the soft "Max open files" limit of this process (Linux /proc); undefined elsewhere or unlimited. */
export function softFdLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function countOpenFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

/**
 * Whether one more connection fits under the soft fd limit minus `reserve`. Counting /proc/self/fd
 * costs a directory read, so the count is refreshed at most every `refreshMs` and adjusted by the
 * connections opened and closed since.
 */
export class FdBudget {
  readonly limit: number | undefined;
  private counted = 0;
  private countedAt = 0;
  private delta = 0;

  constructor(
    readonly reserve: number,
    limit: number | undefined = softFdLimit(),
    private readonly refreshMs = 250,
  ) {
    this.limit = limit;
  }

  /** The estimated number of open descriptors. */
  get open(): number {
    const now = Date.now();
    if (now - this.countedAt >= this.refreshMs) {
      this.counted = countOpenFds() ?? 0;
      this.countedAt = now;
      this.delta = 0;
    }
    return this.counted + this.delta;
  }

  /** True when a new connection may be accepted (always true where the limit is unknown). */
  hasRoom(): boolean {
    if (this.limit === undefined) return true;
    const reserve = Math.min(this.reserve, Math.floor(this.limit / 4));
    return this.open < this.limit - reserve;
  }

  opened(): void {
    this.delta++;
  }

  closed(): void {
    this.delta--;
  }
}

/** A server-wide budget of bytes held at once (e.g. files loaded for downloads); `busy` when spent. */
export class ByteBudget {
  private used = 0;

  constructor(readonly maxBytes: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes`; returns the release function (idempotent). */
  take(bytes: number, what: string): () => void {
    if (this.used + bytes > this.maxBytes && this.used > 0) {
      throw new SecureChatError('busy', `The server is holding too many ${what} at once; retry shortly.`, { reason: `${what.replace(/\s+/g, '_')}_budget` });
    }
    this.used += bytes;
    let released = false;
    return () => {
      if (!released) this.used -= bytes;
      released = true;
    };
  }
}
