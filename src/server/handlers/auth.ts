/** register / login / logout / change_password: thin wire wrappers around AccountService. */
import { SecureChatError } from '../../errors.js';
import { command } from '../router.js';
import type { ChatContext } from '../services.js';
import type { Session } from '../session.js';
import type { User } from '../../storage/types.js';

const password = { type: 'string', min: 1, max: 1024 } as const;
const username = { type: 'string', min: 1, max: 64, optional: true } as const;

/** Marks the session logged in, announces it and starts delivering what is pending. */
function startUserSession(
  ctx: ChatContext,
  user: Pick<User, 'id' | 'uuid' | 'username'> & { credentialVersion: number },
): { user: { uuid: string; username: string } } {
  const { session, services } = ctx;
  if (session.loggedIn) throw new SecureChatError('bad_request', 'Already logged in.');
  session.userId = user.id;
  session.userUuid = user.uuid;
  session.credentialVersion = user.credentialVersion;
  services.hub.add(session);
  // Undone at logout, so a logout/login cycle on one connection does not stack close listeners.
  const end = (): void => endUserSession(ctx, session);
  session.once('close', end);
  session.once('logout', () => session.off('close', end));
  services.delivery.attach(session);
  return { user: { uuid: user.uuid, username: user.username } };
}

function endUserSession(ctx: ChatContext, session: Session): void {
  ctx.services.hub.remove(session);
  ctx.services.delivery.detach(session);
}

const credentials = { password, username };

/** register and login differ only in the AccountService call; both bind the name to the certificate CN. */
function authenticateCommand(type: 'register' | 'login') {
  return command<ChatContext, typeof credentials>({
    type,
    requires: 'handshake',
    schema: credentials,
    // Each attempt costs a scrypt on the server: a higher price in the rate limiter.
    cost: 5,
    async handler(ctx, p) {
      if (ctx.session.loggedIn) throw new SecureChatError('bad_request', 'Already logged in.');
      const request = {
        username: p.username ?? ctx.session.username,
        password: p.password,
        certUsername: ctx.session.username,
        fingerprint: ctx.session.identity.fingerprint,
        ip: ctx.session.ip,
      };
      const user = type === 'register' ? await ctx.services.accounts.register(request) : await ctx.services.accounts.login(request);
      return startUserSession(ctx, user);
    },
  });
}

export const authCommands = [
  authenticateCommand('register'),
  authenticateCommand('login'),
  command<ChatContext, Record<string, never>>({
    type: 'logout',
    requires: 'login',
    schema: {},
    async handler(ctx) {
      await ctx.services.accounts.logout({ username: ctx.session.username, ip: ctx.session.ip });
      endUserSession(ctx, ctx.session);
      ctx.session.emit('logout');
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
      // This session stays logged in under the new version; the user's other sessions end.
      ctx.session.credentialVersion = await ctx.services.accounts.changePassword({
        username: ctx.session.username,
        oldPassword: p.old_password,
        newPassword: p.new_password,
        ip: ctx.session.ip,
        originSession: ctx.session.id,
      });
      // Sessions of this process need not wait for the next poll.
      void ctx.services.accountEvents.changed();
      return {};
    },
  }),
];
