/** What the chat handlers run against: storage, accounts, presence, delivery and the chat limits. */
import type { Logger } from '../log.js';
import type { Storage } from '../storage/types.js';
import type { AccountWatcher } from './account-events.js';
import type { AccountService } from './accounts.js';
import type { Delivery } from './delivery.js';
import type { GroupMembers } from './group-members.js';
import type { RecentFiles } from './recent-files.js';
import type { Hub } from './hub.js';
import type { HandlerContext } from './server.js';

export interface ChatLimits {
  /** Largest text of one message, in UTF-8 bytes. */
  maxTextBytes: number;
  /** Largest file a user may send. */
  maxFileBytes: number;
  /** Size of one file chunk (≤ the frame limit minus record overhead). */
  fileChunkBytes: number;
  /** File transfers a session may have open at once. */
  maxOpenTransfers: number;
}

export const DEFAULT_CHAT_LIMITS: ChatLimits = {
  maxTextBytes: 64 * 1024,
  maxFileBytes: 10 * 1024 * 1024,
  // Capped by createChatServer to the frame limit minus room for the chunk's header.
  fileChunkBytes: 1024 * 1024,
  maxOpenTransfers: 4,
};

export interface ChatServices {
  storage: Storage;
  accounts: AccountService;
  /** Ends live sessions after disable / password reset / password change (issue 9 §3). */
  accountEvents: AccountWatcher;
  hub: Hub;
  delivery: Delivery;
  /** Group member lists; the group handlers invalidate it on every membership change. */
  members: GroupMembers;
  /** Files just stored, so downloads right after an upload need not read them back. */
  recentFiles: RecentFiles;
  limits: ChatLimits;
  log: Logger;
}

export type ChatContext = HandlerContext<ChatServices>;
