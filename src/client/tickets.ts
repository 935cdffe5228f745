/**
 * The client's session tickets (docs/PROTOCOL.md §9.2), in memory: per (server address, server
 * name, our certificate) the newest batch, each ticket used at most once, none past its lifetime
 * or past the server certificate's notAfter. Bounded: at most MAX_SERVERS entries, oldest dropped.
 */
import type { TicketLoginView } from '../protocol/resumption.js';

export interface StoredTicket<S> {
  ticket: Buffer;
  psk: Buffer;
  /** Local clock: receipt + lifetime_ms, capped by the server certificate's notAfter. */
  expiresAt: number;
  /** The login a resumption with this ticket carries (null: log in after resuming). */
  login: TicketLoginView | null;
  /** The server identity verified in the session that issued it. */
  server: S;
  serverCertSha256: Buffer;
}

const MAX_SERVERS = 64;

export class TicketStore<S = unknown> {
  private readonly byServer = new Map<string, StoredTicket<S>[]>();
  /** Called after every change (a ticket file saves itself here: src/client/ticket-file.ts). */
  onChange: (() => void) | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** A new batch replaces the older one. */
  replace(key: string, tickets: StoredTicket<S>[]): void {
    this.drop(key);
    if (tickets.length > 0) {
      this.byServer.set(key, tickets);
      while (this.byServer.size > MAX_SERVERS) this.drop(this.byServer.keys().next().value as string);
    }
    this.onChange?.();
  }

  /** Removes and returns a live ticket (single use: it is gone from the store whatever happens next). */
  take(key: string): StoredTicket<S> | undefined {
    const list = this.byServer.get(key);
    if (!list) return undefined;
    const now = this.now();
    for (;;) {
      const t = list.shift();
      if (!t) {
        this.byServer.delete(key);
        return undefined;
      }
      if (list.length === 0) this.byServer.delete(key);
      if (t.expiresAt > now) {
        this.onChange?.();
        return t;
      }
      t.psk.fill(0);
    }
  }

  /**
   * Puts back a ticket whose attempt died before the server answered (the connection closed or
   * timed out): the server cannot have accepted it, and at worst refuses it as reused next time.
   */
  restore(key: string, ticket: StoredTicket<S>): void {
    const list = this.byServer.get(key);
    if (list) list.unshift(ticket);
    else this.byServer.set(key, [ticket]);
    this.onChange?.();
  }

  forget(key: string): void {
    this.drop(key);
    this.onChange?.();
  }

  private drop(key: string): void {
    for (const t of this.byServer.get(key) ?? []) t.psk.fill(0);
    this.byServer.delete(key);
  }

  /** Every live ticket, per server key (for a ticket file). */
  entries(): [string, StoredTicket<S>[]][] {
    const now = this.now();
    return [...this.byServer].map(([key, list]) => [key, list.filter((t) => t.expiresAt > now)] as [string, StoredTicket<S>[]]).filter(([, list]) => list.length > 0);
  }

  /** Loads saved batches (oldest first) without calling onChange. */
  load(entries: [string, StoredTicket<S>[]][]): void {
    const now = this.now();
    for (const [key, list] of entries) {
      const live = list.filter((t) => t.expiresAt > now);
      if (live.length > 0) this.byServer.set(key, live);
    }
    while (this.byServer.size > MAX_SERVERS) this.drop(this.byServer.keys().next().value as string);
  }

  count(key: string): number {
    return this.byServer.get(key)?.length ?? 0;
  }
}
