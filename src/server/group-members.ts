/**
 * Who is in each group, kept in memory: group_send needs the member list for every message (as
 * the membership check and as the recipients), and reading 101 rows back costs ≈ 130 µs per
 * message on SQLite. Correct because every membership change goes through the group handlers of
 * this process, which call `invalidate` once the change is stored. A read that raced with a change
 * is returned to its caller (as the query would have been) but never cached. In a cluster the
 * other nodes change memberships too: every invalidation is also published (`invalidated`), a
 * remote one arrives through `invalidateLocal`, and while the bus is down (`cacheable` false) the
 * cache is bypassed, because an invalidation could be missed.
 */
import type { Storage } from '../storage/types.js';
import type { Recipient } from './delivery.js';

export class GroupMembers {
  private readonly entries = new Map<number, readonly Recipient[]>();
  /** Bumped by every invalidation, so a query that started before one does not fill the cache. */
  private generation = 0;

  constructor(
    private readonly storage: Storage,
    private readonly maxGroups = 10_000,
  ) {}

  /** The members of a conversation as recipients (user id and name), in storage order. */
  /** Set by the cluster wiring: told of every invalidation made here. */
  invalidated: ((conversationId: number) => void) | null = null;
  /** Set by the cluster wiring: false while invalidations from other nodes may be missed. */
  cacheable: () => boolean = () => true;

  async of(conversationId: number): Promise<readonly Recipient[]> {
    if (!this.cacheable()) {
      this.entries.clear();
      return (await this.storage.getMembers(conversationId)).map((m) => ({ userId: m.userId, username: m.username }));
    }
    const cached = this.entries.get(conversationId);
    if (cached) return cached;
    const generation = this.generation;
    const members = (await this.storage.getMembers(conversationId)).map((m) => ({ userId: m.userId, username: m.username }));
    if (generation === this.generation) {
      // Oldest entry out first: Map iteration follows insertion order.
      if (this.entries.size >= this.maxGroups) this.entries.delete(this.entries.keys().next().value as number);
      this.entries.set(conversationId, members);
    }
    return members;
  }

  /** Call after a member joined or left or the group was deleted (the change already stored). */
  invalidate(conversationId: number): void {
    this.invalidateLocal(conversationId);
    this.invalidated?.(conversationId);
  }

  /** An invalidation from another node (or one that must not be forwarded). */
  invalidateLocal(conversationId: number): void {
    this.generation++;
    this.entries.delete(conversationId);
  }

  /** Forgets everything (the bus came back: invalidations may have been missed meanwhile). */
  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}
