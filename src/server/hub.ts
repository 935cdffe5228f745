/**
 * Who is online: the logged-in sessions of each user. Presence events go out when a user's first
 * session logs in and when their last one leaves. In a cluster (`remote` set, cluster/node.ts) this
 * process's sessions are only part of the picture: the cluster view announces presence and answers
 * `who` from the presence directory, and pushes to users also go to their sessions on other nodes.
 */
import type { AppMessage } from '../protocol/types.js';
import type { Session } from './session.js';

export interface OnlineUser {
  uuid: string;
  username: string;
  ip: string;
}

/** What the cluster wiring plugs into the hub. */
export interface HubRemote {
  /** A session logged in (added) or left (removed) on this node. */
  changed(session: Session, status: 'online' | 'offline'): void;
  /** Forwards an ephemeral push to the users' sessions on the other nodes. */
  push(userIds: number[], msg: AppMessage, exceptSession?: string): void;
  /** Cluster-wide: whether the user has a session on any node. */
  isOnline(userId: number): boolean;
  /** Cluster-wide sessions (fresh from the directory; the last known view while the bus is down). */
  online(): Promise<OnlineUser[]>;
}

export class Hub {
  private readonly byUser = new Map<number, Set<Session>>();
  remote: HubRemote | null = null;

  /** Registers a logged-in session; announces the user when it is their first session. */
  add(session: Session): void {
    const userId = session.userId;
    if (userId === null) return;
    let set = this.byUser.get(userId);
    const first = !set;
    if (!set) {
      set = new Set();
      this.byUser.set(userId, set);
    }
    set.add(session);
    if (this.remote) this.remote.changed(session, 'online');
    else if (first) this.announce(session, 'online');
  }

  remove(session: Session): void {
    const userId = session.userId;
    if (userId === null) return;
    const set = this.byUser.get(userId);
    if (!set?.delete(session)) return;
    if (set.size === 0) this.byUser.delete(userId);
    if (this.remote) this.remote.changed(session, 'offline');
    else if (set.size === 0) this.announce(session, 'offline');
  }

  sessionsOf(userId: number): Iterable<Session> {
    return this.byUser.get(userId) ?? [];
  }

  isOnline(userId: number): boolean {
    return this.byUser.has(userId) || (this.remote?.isOnline(userId) ?? false);
  }

  /** Everyone online (cluster-wide in a cluster), one entry per session. */
  async everyone(): Promise<OnlineUser[]> {
    return this.remote ? this.remote.online() : this.online();
  }

  /** Whether the user has a logged-in session in this process. */
  isLocal(userId: number): boolean {
    return this.byUser.has(userId);
  }

  /** This process's logged-in users with a session here. */
  localUserIds(): IterableIterator<number> {
    return this.byUser.keys();
  }

  /** One entry per session of this process, so a user on two devices shows both addresses. */
  online(): OnlineUser[] {
    const out: OnlineUser[] = [];
    for (const set of this.byUser.values()) {
      for (const s of set) out.push({ uuid: s.userUuid ?? '', username: s.username, ip: s.ip });
    }
    return out.sort((a, b) => a.username.localeCompare(b.username));
  }

  /** Sends to every logged-in session (ephemeral notices only: durable messages go through Delivery). */
  broadcast(msg: AppMessage, except?: number): void {
    for (const [userId, set] of this.byUser) {
      if (userId === except) continue;
      for (const s of set) s.send(msg);
    }
  }

  sendToUser(userId: number, msg: AppMessage): void {
    this.sendToUsers([userId], msg);
  }

  /** Ephemeral push to every session of the users, on every node, except the session `except`. */
  sendToUsers(userIds: Iterable<number>, msg: AppMessage, except?: Session): void {
    const ids = [...new Set(userIds)];
    this.sendLocal(ids, msg, except?.id);
    this.remote?.push(ids, msg, except?.id);
  }

  /** The same, to this process's sessions only (a push that came over the bus). */
  sendLocal(userIds: Iterable<number>, msg: AppMessage, exceptSession?: string): void {
    for (const userId of userIds) {
      for (const s of this.sessionsOf(userId)) if (s.id !== exceptSession) s.send(msg);
    }
  }

  /** Sends to this process's sessions of everyone but `except` (the cluster view's presence pushes). */
  broadcastLocal(msg: AppMessage, except?: number): void {
    this.broadcast(msg, except);
  }

  private announce(session: Session, status: 'online' | 'offline'): void {
    this.broadcast({ type: 'presence', user: session.username, uuid: session.userUuid, status }, session.userId ?? undefined);
  }
}
