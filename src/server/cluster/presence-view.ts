/**
 * This node's view of who is online cluster-wide. Its own sessions go to the presence directory
 * under the node's lease (renewed every leaseMs/3); the other nodes' sessions are read back every
 * pollMs and whenever a node says its sessions changed. A user counts as online while any session
 * of theirs is listed (or local); a change of that answer is pushed as `presence` to this node's
 * sessions. A node that dies stops renewing: its sessions leave the listing after at most leaseMs,
 * and every node announces them offline at its next read — within leaseMs + pollMs.
 *
 * While the bus is down the last listing stays in force (remote users are not declared offline by
 * an outage); this node's own changes are still announced locally and written back when it returns.
 */
import { toSecureChatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Hub, OnlineUser } from '../hub.js';
import type { Session } from '../session.js';
import type { BusFailures } from './failures.js';
import type { PresenceDirectory, PresenceEntry } from './types.js';

export interface PresenceViewOptions {
  nodeId: string;
  leaseMs: number;
  pollMs: number;
}

interface UserState {
  username: string;
  uuid: string;
}

export class PresenceView {
  private remote: PresenceEntry[] = [];
  private online = new Map<number, UserState>();
  private remoteByUser = new Map<string, number>();
  private resync = false;
  private refreshing: Promise<void> | null = null;
  private again = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(
    private readonly directory: PresenceDirectory,
    private readonly hub: Hub,
    private readonly failures: BusFailures,
    private readonly log: Logger,
    private readonly o: PresenceViewOptions,
  ) {}

  /** Clears what a previous process under this node id left (its sessions died with it), then reads. */
  async start(): Promise<void> {
    await this.directory.clear(this.o.nodeId);
    await this.directory.refresh(this.o.nodeId, this.o.leaseMs);
    await this.refresh(true);
    const lease = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.o.leaseMs / 3)));
    const poll = setInterval(() => void this.refresh(), this.o.pollMs);
    lease.unref();
    poll.unref();
    this.timers.push(lease, poll);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    // A clean shutdown takes its users offline at once instead of after the lease.
    await this.directory.clear(this.o.nodeId).catch(() => undefined);
  }

  entryOf(session: Session): PresenceEntry {
    return { node: this.o.nodeId, session: session.id, userId: session.userId ?? 0, uuid: session.userUuid ?? '', username: session.username, ip: session.ip };
  }

  /** Hub: a local session logged in or left. */
  changed(session: Session, status: 'online' | 'offline'): void {
    const op = status === 'online' ? this.directory.put(this.entryOf(session), this.o.leaseMs) : this.directory.remove(this.o.nodeId, session.id);
    op.catch((err: unknown) => {
      this.resync = true;
      this.failures.failed('presence', toSecureChatError(err));
    });
    this.recompute();
  }

  isOnline(userId: number): boolean {
    return this.online.has(userId);
  }

  /** Sessions of `username` on the other nodes, as of the last listing (session caps). */
  sessionsElsewhere(username: string): number {
    return this.remoteByUser.get(username) ?? 0;
  }

  /** Every session cluster-wide: a fresh listing when the bus answers, the last one otherwise. */
  async everyone(): Promise<OnlineUser[]> {
    try {
      this.setRemote(await this.directory.list());
    } catch (err) {
      this.failures.failed('presence', toSecureChatError(err));
    }
    const all = [...this.remote.map((e) => ({ uuid: e.uuid, username: e.username, ip: e.ip })), ...this.hub.online()];
    return all.sort((a, b) => a.username.localeCompare(b.username));
  }

  /** Reads the directory; `quiet` (start-up) takes the listing as the baseline without announcing it. */
  refresh(quiet = false): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        try {
          this.setRemote(await this.directory.list());
        } catch (err) {
          this.failures.failed('presence', toSecureChatError(err));
          return;
        }
        this.recompute(quiet);
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** The bus is back: write this node's sessions again (the lease may have lapsed meanwhile). */
  async rewrite(): Promise<void> {
    try {
      await this.directory.clear(this.o.nodeId);
      await this.directory.refresh(this.o.nodeId, this.o.leaseMs);
      for (const userId of [...this.hub.localUserIds()]) {
        for (const s of this.hub.sessionsOf(userId)) await this.directory.put(this.entryOf(s), this.o.leaseMs);
      }
      this.resync = false;
    } catch (err) {
      this.resync = true;
      this.failures.failed('presence', toSecureChatError(err));
    }
  }

  private async renew(): Promise<void> {
    if (this.resync) return this.rewrite();
    try {
      await this.directory.refresh(this.o.nodeId, this.o.leaseMs);
    } catch (err) {
      this.resync = true;
      this.failures.failed('presence_lease', toSecureChatError(err));
    }
  }

  private setRemote(entries: PresenceEntry[]): void {
    this.remote = entries.filter((e) => e.node !== this.o.nodeId);
    const byUser = new Map<string, number>();
    for (const e of this.remote) byUser.set(e.username, (byUser.get(e.username) ?? 0) + 1);
    this.remoteByUser = byUser;
  }

  /** Online users = remote listing ∪ local sessions; announces the difference to local sessions. */
  private recompute(quiet = false): void {
    const next = new Map<number, UserState>();
    for (const e of this.remote) next.set(e.userId, { username: e.username, uuid: e.uuid });
    for (const userId of this.hub.localUserIds()) {
      for (const s of this.hub.sessionsOf(userId)) {
        next.set(userId, { username: s.username, uuid: s.userUuid ?? '' });
        break;
      }
    }
    const before = this.online;
    this.online = next;
    if (quiet) return;
    for (const [userId, u] of next) if (!before.has(userId)) this.announce(userId, u, 'online');
    for (const [userId, u] of before) if (!next.has(userId)) this.announce(userId, u, 'offline');
  }

  private announce(userId: number, u: UserState, status: 'online' | 'offline'): void {
    this.hub.broadcastLocal({ type: 'presence', user: u.username, uuid: u.uuid, status }, userId);
  }
}
