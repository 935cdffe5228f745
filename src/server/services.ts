/** What the chat handlers run against: storage, accounts, presence, delivery and the chat limits. */
import type { Logger } from '../log.js';
import type { Storage } from '../storage/types.js';
import type { AccountWatcher } from './account-events.js';
import type { AccountService } from './accounts.js';
import type { ClusterNode } from './cluster/node.js';
import type { Delivery } from './delivery.js';
import type { GroupMembers } from './group-members.js';
import { DEFAULT_RECENT_FILES_BYTES, type RecentFiles } from './recent-files.js';
import type { Hub } from './hub.js';
import type { ByteBudget } from './limits.js';
import type { HandlerContext } from './server.js';
import type { StorageQuota } from './storage-quota.js';
import type { UploadSpool } from './upload-spool.js';

export interface ChatLimits {
  /** Largest text of one message, in UTF-8 bytes. */
  maxTextBytes: number;
  /** Largest file a user may send. */
  maxFileBytes: number;
  /** Size of one file chunk (≤ the frame limit minus record overhead). */
  fileChunkBytes: number;
  /** File transfers a session may have open at once. */
  maxOpenTransfers: number;
  /** Largest response JSON (frame limit minus record overhead): history pages are cut to fit. */
  maxResponseBytes: number;
  /** Downloads (file_get) a session may run at once: each holds a whole file while it streams. */
  maxOpenDownloads: number;
  /** Bytes of whole files held in memory at once (downloads, uploads being stored), server-wide; more get `busy`. */
  maxDownloadBytes: number;
  /** Bytes one user may have stored — files and message text — plus their unfinished uploads; more get `quota_exceeded`. */
  userQuotaBytes: number;
  /** Bytes of just-stored files kept in memory for the downloads that follow (RecentFiles); 0 = no cache. */
  recentFilesBytes: number;
}

export const DEFAULT_CHAT_LIMITS: ChatLimits = {
  maxTextBytes: 64 * 1024,
  maxFileBytes: 10 * 1024 * 1024,
  // Capped by createChatServer to the frame limit minus room for the chunk's header.
  fileChunkBytes: 1024 * 1024,
  maxOpenTransfers: 4,
  // Set by createChatServer from the frame limit.
  maxResponseBytes: 1024 * 1024 - 16 * 1024,
  maxOpenDownloads: 2,
  maxDownloadBytes: 256 * 1024 * 1024,
  userQuotaBytes: 1024 * 1024 * 1024,
  recentFilesBytes: DEFAULT_RECENT_FILES_BYTES,
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
  /** Unfinished uploads, on disk, with their byte budgets. */
  spool: UploadSpool;
  quota: StorageQuota;
  /** Server-wide bytes of whole files held in memory: downloads read from storage, uploads being stored. */
  downloadBytes: ByteBudget;
  limits: ChatLimits;
  log: Logger;
  /** This node of a cluster (absent: a single node, everything in this process). */
  cluster?: ClusterNode;
}

export type ChatContext = HandlerContext<ChatServices>;
