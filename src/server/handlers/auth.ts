/** register / login / logout / change_password: thin wire wrappers around AccountService. */
import { SecureChatError } from '../../errors.js';
import { command } from '../router.js';
import type { ChatContext } from '../services.js';
import type { Session } from '../session.js';
import type { User } from '../../storage/types.js';

const password = { type: 'string', min: 1, max: 1024 } as const;
const username = { type: 'string', min: 1, max: 64, optional: true } as const;

/** Marks the session logged in, announces it and starts delivering what is pending. */
function startUserSession(ctx: ChatContext, user: Pick<User, 'id' | 'uuid' | 'username'>): { user: { uuid: string; username: string } } {
  const { session, services } = ctx;
  if (session.loggedIn) throw new SecureChatError('bad_request', 'Already logged in.');
  session.userId = user.id;
  session.userUuid = user.uuid;
  services.hub.add(session);
  session.once('close', () => endUserSession(ctx, session));
  services.delivery.attach(session);
  return { user: { uuid: user.uuid, username: user.username } };
}

function endUserSession(ctx: ChatContext, session: Session): void {
  ctx.services.hub.remove(session);
  ctx.services.delivery.detach(session);
}

export const authCommands = [
  command<ChatContext, { password: typeof password; username: typeof username }>({
    type: 'register',
    requires: 'handshake',
    schema: { password, username },
    cost: 5,
    async handler(ctx, p) {
      const user = await ctx.services.accounts.register({
        username: p.username ?? ctx.session.username,
        password: p.password,
        certUsername: ctx.session.username,
        fingerprint: ctx.session.identity.fingerprint,
        ip: ctx.session.ip,
      });
      return startUserSession(ctx, user);
    },
  }),
  command<ChatContext, { password: typeof password; username: typeof username }>({
    type: 'login',
    requires: 'handshake',
    schema: { password, username },
    cost: 5,
    async handler(ctx, p) {
      if (ctx.session.loggedIn) throw new SecureChatError('bad_request', 'Already logged in.');
      const user = await ctx.services.accounts.login({
        username: p.username ?? ctx.session.username,
        password: p.password,
        certUsername: ctx.session.username,
        fingerprint: ctx.session.identity.fingerprint,
        ip: ctx.session.ip,
      });
      return startUserSession(ctx, user);
    },
  }),
  command<ChatContext, Record<string, never>>({
    type: 'logout',
    requires: 'login',
    schema: {},
    async handler(ctx) {
      await ctx.services.accounts.logout({ username: ctx.session.username, ip: ctx.session.ip });
      endUserSession(ctx, ctx.session);
      ctx.session.userId = null;
      ctx.session.userUuid = null;
      return {};
    },
  }),
  command<ChatContext, { old_password: typeof password; new_password: typeof password }>({
    type: 'change_password',
    requires: 'login',
    schema: { old_password: password, new_password: password },
    cost: 5,
    async handler(ctx, p) {
      await ctx.services.accounts.changePassword({
        username: ctx.session.username,
        oldPassword: p.old_password,
        newPassword: p.new_password,
        ip: ctx.session.ip,
      });
      return {};
    },
  }),
];
