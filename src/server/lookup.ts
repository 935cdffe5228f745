/** Resolving the names a client sends (users by name or uuid, groups by name) into stored records. */
import { SecureChatError } from '../errors.js';
import type { Conversation, Member, MemberRole, Storage, User } from '../storage/types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function resolveUser(storage: Storage, ref: string): Promise<User> {
  const user = UUID.test(ref) ? await storage.getUserByUuid(ref) : await storage.getUserByName(ref);
  if (!user || user.disabled) throw new SecureChatError('unknown_user', `No such user: ${ref}.`);
  return user;
}

export async function resolveGroup(storage: Storage, name: string): Promise<Conversation & { kind: 'group'; name: string }> {
  const group = await storage.getGroupByName(name);
  if (!group || group.kind !== 'group' || group.name === null) throw new SecureChatError('unknown_group', `No such group: ${name}.`);
  return group as Conversation & { kind: 'group'; name: string };
}

const RANK: Record<MemberRole, number> = { member: 0, admin: 1, owner: 2 };

/** The caller's membership, checked against the least role the action needs. */
export async function requireMember(storage: Storage, group: Conversation, userId: number, atLeast: MemberRole = 'member'): Promise<Member> {
  const member = await storage.getMember(group.id, userId);
  if (!member) throw new SecureChatError('not_member', `You are not a member of ${group.name ?? 'that group'}.`);
  if (RANK[member.role] < RANK[atLeast]) {
    throw new SecureChatError('forbidden', `Only the group's ${atLeast === 'owner' ? 'owner' : 'owner or admins'} may do that.`);
  }
  return member;
}

export function roleRank(role: MemberRole): number {
  return RANK[role];
}

/** The logged-in user id; the router guarantees it for commands that require login. */
export function userIdOf(session: { userId: number | null }): number {
  if (session.userId === null) throw new SecureChatError('not_logged_in');
  return session.userId;
}
