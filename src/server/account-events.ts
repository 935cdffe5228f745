/**
 * Makes operator actions take effect on live sessions (issue 9 §3). `securechat user disable` /
 * `reset-password` and `change_password` bump the user's credential version and append an
 * account event in one transaction (Storage.changeCredentials). Every server process sharing the
 * database polls the event log (`WHERE id > last`, one indexed query per second) and ends the
 * sessions of that user that logged in under an older version — except the session that made the
 * change. The database is the only channel, so it works for a CLI process and for any number of
 * server processes alike; a process that was down simply starts from the newest event (its
 * sessions died with it), and logins compare versions themselves (AccountService.login).
 */
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccountEvent, Storage } from '../storage/types.js';
import type { Hub } from './hub.js';

export interface AccountWatcherOptions {
  /** How often the event log is polled (the "within about a second"). */
  pollMs: number;
  /** Events older than this are pruned (a process polls far more often than this). */
  retainMs: number;
  pruneEveryMs: number;
}

export const DEFAULT_ACCOUNT_WATCHER: AccountWatcherOptions = { pollMs: 1000, retainMs: 24 * 3600_000, pruneEveryMs: 10 * 60_000 };

const CLOSE_CODE = { disabled: 'account_disabled', credentials_changed: 'credentials_changed' } as const;

export class AccountWatcher {
  private last: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private failing = false;
  private lastPrune = 0;
  private readonly options: AccountWatcherOptions;

  constructor(
    private readonly storage: Storage,
    private readonly hub: Hub,
    private readonly log: Logger,
    options: Partial<AccountWatcherOptions> = {},
  ) {
    this.options = { ...DEFAULT_ACCOUNT_WATCHER, ...options };
    // The first poll only learns where the log ends: events before this process started concern
    // sessions that did not exist yet.
    void this.pollNow();
  }

  /** Set by the cluster wiring: tells the other nodes to poll now. */
  changedHere: (() => void) | null = null;

  /** A session of this process changed credentials: poll now, and have the other nodes poll too. */
  changed(): Promise<void> {
    this.changedHere?.();
    return this.pollNow();
  }

  /** Polls at once (e.g. after a change made by a session of this process); resolves when done. */
  pollNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      // A poll already in flight may have missed a change committed a moment ago: run once more.
      this.again = true;
      return this.running;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.pollLoop().finally(() => {
      this.running = null;
      this.schedule();
    });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.pollNow();
    }, this.options.pollMs);
    this.timer.unref();
  }

  private async pollLoop(): Promise<void> {
    do {
      this.again = false;
      await this.pollOnce();
    } while (this.again && !this.stopped);
  }

  private async pollOnce(): Promise<void> {
    try {
      if (this.last === null) {
        this.last = await this.storage.latestAccountEventId();
      } else {
        for (;;) {
          const events = await this.storage.accountEventsAfter(this.last, 1000);
          for (const e of events) this.apply(e);
          if (events.length > 0) this.last = events[events.length - 1].id;
          if (events.length < 1000) break;
        }
      }
      await this.maybePrune();
      if (this.failing) this.log.info('account events readable again');
      this.failing = false;
    } catch (err) {
      // Logged once per outage, not every second; the next poll picks up where this one stopped.
      if (!this.failing) this.log.warn('polling account events failed; retrying', { error: toSecureChatError(err).message });
      this.failing = true;
    }
  }

  private async maybePrune(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < this.options.pruneEveryMs) return;
    this.lastPrune = now;
    const removed = await this.storage.pruneAccountEvents(now - this.options.retainMs);
    if (removed > 0) this.log.debug('pruned old account events', { removed });
  }

  private apply(event: AccountEvent): void {
    const code = CLOSE_CODE[event.kind];
    if (!code) return;
    // Copied: failing a session removes it from the hub's set while we iterate.
    for (const session of [...this.hub.sessionsOf(event.userId)]) {
      if (session.id === event.originSession || session.credentialVersion >= event.version) continue;
      this.log.info(`ending a live session: ${code}`, { session: session.id, user: session.username, event: event.id });
      session.fail(new SecureChatError(code));
    }
  }
}
