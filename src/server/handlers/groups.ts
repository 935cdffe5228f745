/**
 * Group commands. Only members read and post; the owner and admins manage membership and the name;
 * only the owner promotes, demotes and deletes. Storage keeps every group owned (removeMember hands
 * ownership on in the same transaction). Every change is announced to the affected online members
 * with a `group_event` push that names who made it (`by`), so nobody is added to a group — e.g. one
 * re-created under a deleted group's old name — without being told by whom (docs/MESSAGES.md).
 */
import { SecureChatError } from '../../errors.js';
import type { Conversation, Member, MemberRole } from '../../storage/types.js';
import type { Recipient } from '../delivery.js';
import { requireMember, resolveGroup, resolveUser, roleRank, userIdOf } from '../lookup.js';
import { command } from '../router.js';
import type { ChatContext } from '../services.js';
import { ackResult, chargeText, checkTextSize, clientMsgIdField, textField, viewOf } from './dm.js';

const groupRef = { type: 'string', min: 1, max: 64 } as const;
const userRef = { type: 'string', min: 1, max: 64 } as const;
const groupName = { type: 'string', min: 1, max: 64 } as const;

/** ASCII only on purpose: look-alike letters from other scripts would let one group pose as another. */
const GROUP_NAME = /^[A-Za-z0-9_.-](?:[A-Za-z0-9 _.-]*[A-Za-z0-9_.-])?$/;

export function checkGroupName(name: string): string {
  if (!GROUP_NAME.test(name)) {
    throw new SecureChatError('bad_request', 'Group names are 1–64 letters, digits, spaces and _ - . with no leading or trailing space.', {
      details: { field: 'name' },
    });
  }
  return name;
}

export interface GroupEvent {
  group: string;
  /** `left`: the user left by themselves; `removed`: an admin or the owner removed them. */
  event: 'added' | 'removed' | 'left' | 'renamed' | 'deleted' | 'role';
  user?: string;
  role?: MemberRole;
  name?: string;
}

/**
 * Pushes a group_event to every online session of `userIds`, except the session that made the
 * change (its response already says what happened; the user's other devices still hear of it).
 * `by` is always the acting user: the caller's account.
 */
function notify(ctx: ChatContext, userIds: Iterable<number>, event: GroupEvent): void {
  ctx.services.hub.sendToUsers(userIds, { type: 'group_event', ...event, by: ctx.session.username }, ctx.session);
}

function idsOf(members: Member[]): number[] {
  return members.map((m) => m.userId);
}

/** The member the action is aimed at; `not_member` names them, so it is not mistaken for the caller. */
async function requireTarget(ctx: ChatContext, group: Conversation & { name: string }, ref: string): Promise<Member> {
  const user = await resolveUser(ctx.services.storage, ref);
  const member = await ctx.services.storage.getMember(group.id, user.id);
  if (!member) throw new SecureChatError('not_member', `${user.username} is not a member of ${group.name}.`, { reason: 'target' });
  return member;
}

function renameConflict(err: unknown, name: string): never {
  if (err instanceof SecureChatError && err.code === 'exists') throw new SecureChatError('exists', `A group named "${name}" already exists.`);
  throw err;
}

type GroupParams = { group: typeof groupRef };
type GroupUserParams = { group: typeof groupRef; user: typeof userRef };

/** group_promote / group_demote: owner only; `refuse` throws for a target the change does not apply to. */
function roleChange(type: 'group_promote' | 'group_demote', role: 'admin' | 'member', refuse: (target: Member) => void) {
  return command<ChatContext, GroupUserParams>({
    type,
    requires: 'login',
    schema: { group: groupRef, user: userRef },
    async handler(ctx, p) {
      const { storage } = ctx.services;
      const group = await resolveGroup(storage, p.group);
      await requireMember(storage, group, userIdOf(ctx.session), 'owner');
      const target = await requireTarget(ctx, group, p.user);
      refuse(target);
      await storage.setRole(group.id, target.userId, role);
      notify(ctx, idsOf(await storage.getMembers(group.id)), { group: group.name, event: 'role', user: target.username, role });
      return {};
    },
  });
}

export const groupCommands = [
  command<ChatContext, { name: typeof groupName }>({
    type: 'group_create',
    requires: 'login',
    schema: { name: groupName },
    async handler(ctx, p) {
      const name = checkGroupName(p.name);
      const group = await ctx.services.storage.createGroup(name, userIdOf(ctx.session)).catch((err: unknown) => renameConflict(err, name));
      return { group: { id: group.id, name } };
    },
  }),

  command<ChatContext, Record<string, never>>({
    type: 'group_list',
    requires: 'login',
    schema: {},
    async handler(ctx) {
      const groups = await ctx.services.storage.listGroupsOf(userIdOf(ctx.session));
      return { groups: groups.map((g) => ({ id: g.id, name: g.name, role: g.role, member_count: g.memberCount })) };
    },
  }),

  command<ChatContext, GroupParams>({
    type: 'group_info',
    requires: 'login',
    schema: { group: groupRef },
    async handler(ctx, p) {
      const { storage, hub } = ctx.services;
      const group = await resolveGroup(storage, p.group);
      await requireMember(storage, group, userIdOf(ctx.session));
      const members = await storage.getMembers(group.id);
      return {
        group: { id: group.id, name: group.name },
        members: members.map((m) => ({ uuid: m.uuid, username: m.username, role: m.role, online: hub.isOnline(m.userId) })),
      };
    },
  }),

  command<ChatContext, GroupUserParams>({
    type: 'group_add',
    requires: 'login',
    schema: { group: groupRef, user: userRef },
    async handler(ctx, p) {
      const { storage } = ctx.services;
      const group = await resolveGroup(storage, p.group);
      await requireMember(storage, group, userIdOf(ctx.session), 'admin');
      const user = await resolveUser(storage, p.user);
      const added = await storage.addMember(group.id, user.id).catch((err: unknown) => {
        if (err instanceof SecureChatError && err.code === 'exists') {
          throw new SecureChatError('exists', `${user.username} is already a member of ${group.name}.`);
        }
        throw err;
      });
      ctx.services.members.invalidate(group.id);
      const members = await storage.getMembers(group.id);
      notify(ctx, idsOf(members), { group: group.name, event: 'added', user: added.username, role: added.role });
      return {};
    },
  }),

  command<ChatContext, GroupUserParams>({
    type: 'group_remove',
    requires: 'login',
    schema: { group: groupRef, user: userRef },
    async handler(ctx, p) {
      const { storage } = ctx.services;
      const group = await resolveGroup(storage, p.group);
      const actor = await requireMember(storage, group, userIdOf(ctx.session), 'admin');
      const target = await requireTarget(ctx, group, p.user);
      if (target.userId === actor.userId) throw new SecureChatError('bad_request', 'To remove yourself, use group_leave.');
      // Admins manage members only; the owner manages admins too; nobody removes the owner.
      if (roleRank(target.role) >= roleRank(actor.role)) {
        throw new SecureChatError('forbidden', `You cannot remove ${target.username}: they are ${target.role === 'owner' ? 'the owner' : 'an admin'}.`);
      }
      await storage.removeMember(group.id, target.userId);
      ctx.services.members.invalidate(group.id);
      const remaining = await storage.getMembers(group.id);
      notify(ctx, [...idsOf(remaining), target.userId], { group: group.name, event: 'removed', user: target.username });
      return {};
    },
  }),

  roleChange('group_promote', 'admin', (target) => {
    if (target.role !== 'member') throw new SecureChatError('bad_request', `${target.username} is already ${target.role === 'owner' ? 'the owner' : 'an admin'}.`);
  }),

  roleChange('group_demote', 'member', (target) => {
    if (target.role === 'owner') throw new SecureChatError('forbidden', 'The owner cannot be demoted; leave the group to pass ownership on.');
    if (target.role !== 'admin') throw new SecureChatError('bad_request', `${target.username} is not an admin.`);
  }),

  command<ChatContext, GroupParams>({
    type: 'group_leave',
    requires: 'login',
    schema: { group: groupRef },
    async handler(ctx, p) {
      const { storage } = ctx.services;
      const group = await resolveGroup(storage, p.group);
      const me = await requireMember(storage, group, userIdOf(ctx.session));
      const result = await storage.removeMember(group.id, me.userId);
      ctx.services.members.invalidate(group.id);
      if (result.deleted) return { deleted: true };
      const remaining = await storage.getMembers(group.id);
      // The leaver's other devices hear of it too.
      notify(ctx, [...idsOf(remaining), me.userId], { group: group.name, event: 'left', user: me.username });
      if (result.newOwnerId === undefined) return { deleted: false };
      const heir = remaining.find((m) => m.userId === result.newOwnerId);
      const newOwner = heir?.username ?? (await storage.getUserById(result.newOwnerId))?.username ?? '';
      notify(ctx, idsOf(remaining), { group: group.name, event: 'role', user: newOwner, role: 'owner' });
      return { deleted: false, new_owner: newOwner };
    },
  }),

  command<ChatContext, { group: typeof groupRef; name: typeof groupName }>({
    type: 'group_rename',
    requires: 'login',
    schema: { group: groupRef, name: groupName },
    async handler(ctx, p) {
      const { storage } = ctx.services;
      const name = checkGroupName(p.name);
      const group = await resolveGroup(storage, p.group);
      await requireMember(storage, group, userIdOf(ctx.session), 'admin');
      if (name === group.name) return {};
      await storage.renameGroup(group.id, name).catch((err: unknown) => renameConflict(err, name));
      notify(ctx, idsOf(await storage.getMembers(group.id)), { group: group.name, event: 'renamed', name });
      return {};
    },
  }),

  command<ChatContext, GroupParams>({
    type: 'group_delete',
    requires: 'login',
    schema: { group: groupRef },
    async handler(ctx, p) {
      const { storage } = ctx.services;
      const group = await resolveGroup(storage, p.group);
      await requireMember(storage, group, userIdOf(ctx.session), 'owner');
      const members = await storage.getMembers(group.id);
      await storage.deleteGroup(group.id);
      ctx.services.members.invalidate(group.id);
      notify(ctx, idsOf(members), { group: group.name, event: 'deleted' });
      return {};
    },
  }),

  command<ChatContext, { group: typeof groupRef; text: typeof textField; client_msg_id: typeof clientMsgIdField }>({
    type: 'group_send',
    requires: 'login',
    schema: { group: groupRef, text: textField, client_msg_id: clientMsgIdField },
    async handler(ctx, p) {
      checkTextSize(ctx, p.text);
      const { storage, delivery, members } = ctx.services;
      const group = await resolveGroup(storage, p.group);
      const senderId = userIdOf(ctx.session);
      // One list serves as the membership check and as the recipients.
      const recipients = await members.of(group.id);
      if (!recipients.some((m) => m.userId === senderId)) throw new SecureChatError('not_member', `You are not a member of ${group.name}.`);
      const charged = await chargeText(ctx, senderId, p.text, p.client_msg_id);
      const stored = await storage.appendMessage({ conversationId: group.id, senderId, kind: 'text', body: p.text, clientMsgId: p.client_msg_id });
      charged(stored);
      if (!stored.duplicate) delivery.publish(viewOf(stored, ctx, group), recipients);
      return ackResult(stored);
    },
  }),
];

export function recipientsOf(members: Member[]): Recipient[] {
  return members.map((m) => ({ userId: m.userId, username: m.username }));
}
