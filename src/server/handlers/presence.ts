/** who: the users online right now. */
import { command } from '../router.js';
import type { ChatContext } from '../services.js';

export const presenceCommands = [
  command<ChatContext, Record<string, never>>({
    type: 'who',
    requires: 'login',
    schema: {},
    handler(ctx) {
      return { users: ctx.services.hub.online() };
    },
  }),
];
