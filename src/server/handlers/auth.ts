/** register / login / logout / change_password: thin wire wrappers around AccountService. */
import { SecureChatError } from '../../errors.js';
import { command } from '../router.js';
import type { ChatContext } from '../services.js';
import type { Session } from '../session.js';
import type { Storage, User } from '../../storage/types.js';
import type { TicketLogin } from '../tickets.js';

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
  // New tickets carry the login (docs/PROTOCOL.md §9.2).
  session.emit('ticketState');
  return { user: { uuid: user.uuid, username: user.username } };
}

/** A resumed session starts logged in as its ticket says (PROTOCOL.md §9.6): the same start as a password login. */
export function restoreLogin(ctx: ChatContext, login: TicketLogin): void {
  startUserSession(ctx, { id: login.userId, uuid: login.uuid, username: login.username, credentialVersion: login.credentialVersion });
}

/**
 * The account check of a resumption whose ticket carries a login: the account must still exist,
 * be enabled and have the credential version of that login (else a full login is required).
 */
export async function checkTicketLogin(storage: Storage, login: TicketLogin): Promise<void> {
  const refuse = (reason: string, message: string): SecureChatError => new SecureChatError('resumption_refused', message, { reason });
  const user = await storage.getUserById(login.userId);
  if (!user || user.username !== login.username) throw refuse('unknown_account', 'The account of this ticket no longer exists.');
  if (user.disabled) throw refuse('account_disabled', 'The account was disabled after this ticket was issued; a full login is required.');
  if ((await storage.credentialVersion(user.id)) !== login.credentialVersion) {
    throw refuse('credentials_changed', 'The password was changed or reset after this ticket was issued; log in again with a full handshake.');
  }
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
      // Tickets without the login replace the client's (which it drops at logout anyway).
      ctx.session.emit('ticketState');
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
      // Tickets issued before carry the old version and would be refused: hand out new ones.
      ctx.session.emit('ticketState');
      // Sessions of this process need not wait for the next poll.
      void ctx.services.accountEvents.changed();
      return {};
    },
  }),
];
