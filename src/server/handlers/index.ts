/** The server's whole command table, one handler module per concern. */
import type { CommandSpec } from '../router.js';
import type { ChatContext } from '../services.js';
import { authCommands } from './auth.js';
import { dmCommands } from './dm.js';
import { fileCommands } from './files.js';
import { groupCommands } from './groups.js';
import { historyCommands } from './history.js';
import { presenceCommands } from './presence.js';

export const chatCommands: CommandSpec<ChatContext>[] = [
  ...authCommands,
  ...presenceCommands,
  ...dmCommands,
  ...groupCommands,
  ...historyCommands,
  ...fileCommands,
];
