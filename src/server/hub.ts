/**
 * Who is online: the logged-in sessions of each user. Presence events go out when a user's first
 * session logs in and when their last one leaves.
 */
import type { AppMessage } from '../protocol/types.js';
import type { Session } from './session.js';

export interface OnlineUser {
  uuid: string;
  username: string;
  ip: string;
}

export class Hub {
  private readonly byUser = new Map<number, Set<Session>>();

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
    if (first) this.announce(session, 'online');
  }

  remove(session: Session): void {
    const userId = session.userId;
    if (userId === null) return;
    const set = this.byUser.get(userId);
    if (!set?.delete(session)) return;
    if (set.size === 0) {
      this.byUser.delete(userId);
      this.announce(session, 'offline');
    }
  }

  sessionsOf(userId: number): Iterable<Session> {
    return this.byUser.get(userId) ?? [];
  }

  isOnline(userId: number): boolean {
    return this.byUser.has(userId);
  }

  /** One entry per session, so a user on two devices shows both addresses. */
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
    for (const s of this.sessionsOf(userId)) s.send(msg);
  }

  private announce(session: Session, status: 'online' | 'offline'): void {
    this.broadcast({ type: 'presence', user: session.username, uuid: session.userUuid, status }, session.userId ?? undefined);
  }
}
