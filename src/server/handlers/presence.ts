/** who: the users online right now, cluster-wide (addresses only of the caller's own sessions). */
import { command } from '../router.js';
import type { ChatContext } from '../services.js';

export const presenceCommands = [
  command<ChatContext, Record<string, never>>({
    type: 'who',
    requires: 'login',
    schema: {},
    async handler(ctx) {
      // A user's address is theirs to see (their own sessions), not everyone's; operators see all in the admin view.
      const me = ctx.session.userUuid;
      return { users: (await ctx.services.hub.everyone()).map(({ ip, ...user }) => (user.uuid === me ? { ...user, ip } : user)) };
    },
  }),
];
