/** Composes a chat server: storage + accounts + presence + delivery + the command table. */
import type { Logger } from '../log.js';
import type { TrustStore } from '../pki/trust-store.js';
import type { LocalIdentity } from '../protocol/types.js';
import type { Storage } from '../storage/types.js';
import { AccountWatcher } from './account-events.js';
import { AccountService } from './accounts.js';
import { Delivery, type DeliveryOptions } from './delivery.js';
import { GroupMembers } from './group-members.js';
import { chatCommands } from './handlers/index.js';
import { RecentFiles } from './recent-files.js';
import { Hub } from './hub.js';
import { SecureChatError } from '../errors.js';
import { DEFAULT_LIMITS, SecureChatServer, type ServerLimits } from './server.js';
import { DEFAULT_CHAT_LIMITS, type ChatLimits, type ChatServices } from './services.js';

export interface ChatServerOptions {
  identity: LocalIdentity;
  trust: TrustStore;
  crlFile?: string;
  /** See ServerOptions.caDir / loadIdentity. */
  caDir?: string;
  loadIdentity?: () => LocalIdentity;
  storage: Storage;
  log: Logger;
  limits?: Partial<ServerLimits>;
  chat?: Partial<ChatLimits>;
  delivery?: Partial<DeliveryOptions>;
}

export const DEFAULT_DELIVERY: DeliveryOptions = { highWaterBytes: 4 * 1024 * 1024, pageSize: 500, retryMs: 1000 };

/** Leaves room in a record for the chunk's JSON header and the AEAD overhead. */
const CHUNK_HEADROOM = 16 * 1024;

export function createChatServer(options: ChatServerOptions): SecureChatServer<ChatServices> {
  const { storage, log } = options;
  const limits = { ...DEFAULT_CHAT_LIMITS, ...options.chat };
  const maxFrameSize = options.limits?.maxFrameSize ?? DEFAULT_LIMITS.maxFrameSize;
  if (maxFrameSize <= CHUNK_HEADROOM * 2) {
    throw new SecureChatError('usage', `maxFrameBytes must be more than ${CHUNK_HEADROOM * 2} bytes.`);
  }
  // A file chunk must fit in one record, whatever the two settings say.
  limits.fileChunkBytes = Math.min(limits.fileChunkBytes, maxFrameSize - CHUNK_HEADROOM);
  const hub = new Hub();
  const delivery = new Delivery(storage, hub, log.child({ component: 'delivery' }), { ...DEFAULT_DELIVERY, ...options.delivery });
  const services: ChatServices = {
    storage,
    accounts: new AccountService({ storage, log: log.child({ component: 'accounts' }) }),
    accountEvents: new AccountWatcher(storage, hub, log.child({ component: 'accounts' })),
    hub,
    delivery,
    members: new GroupMembers(storage),
    recentFiles: new RecentFiles(),
    limits,
    log,
  };
  const server = new SecureChatServer<ChatServices>({
    identity: options.identity,
    trust: options.trust,
    ...(options.crlFile ? { crlFile: options.crlFile } : {}),
    ...(options.caDir ? { caDir: options.caDir } : {}),
    ...(options.loadIdentity ? { loadIdentity: options.loadIdentity } : {}),
    limits: options.limits,
    log,
    services,
    commands: chatCommands,
  });
  server.once('closing', () => services.accountEvents.stop());
  return server;
}
