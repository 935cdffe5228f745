/** Composes a chat server: storage + accounts + presence + delivery + the command table. */
import type { Logger } from '../log.js';
import type { TrustStore } from '../pki/trust-store.js';
import type { LocalIdentity } from '../protocol/types.js';
import type { Storage } from '../storage/types.js';
import { AccountWatcher } from './account-events.js';
import type { ReplayGuard } from '../protocol/replay-guard.js';
import type { ClusterBackend } from './cluster/types.js';
import type { ClusterObserver } from './cluster/failures.js';
import { ClusterNode, type ClusterTimings } from './cluster/node.js';
import { ClusterReplayGuard } from './cluster/replay.js';
import { SharedLoginThrottle } from './cluster/throttle.js';
import { SharedTicketKeys } from './cluster/ticket-keys.js';
import { AccountService } from './accounts.js';
import { Delivery, type DeliveryOptions } from './delivery.js';
import { GroupMembers } from './group-members.js';
import { chatCommands } from './handlers/index.js';
import { checkTicketLogin, restoreLogin } from './handlers/auth.js';
import { RecentFiles } from './recent-files.js';
import { Hub } from './hub.js';
import type { ServerObserver } from './metrics.js';
import { SecureChatError } from '../errors.js';
import { DEFAULT_LIMITS, SecureChatServer, type ServerLimits } from './server.js';
import { DEFAULT_CHAT_LIMITS, type ChatLimits, type ChatServices } from './services.js';
import { ByteBudget } from './limits.js';
import { DEFAULT_PASSWORD_WORK, PasswordWork, type PasswordWorkLimits } from './password-work.js';
import { StorageQuota } from './storage-quota.js';
import { UploadSpool, type SpoolLimits } from './upload-spool.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  /** Where unfinished uploads are spooled (0700; created). Default: a fresh directory under the OS temp dir. */
  spoolDir?: string;
  spool?: Partial<SpoolLimits>;
  passwordWork?: Partial<PasswordWorkLimits>;
  observer?: ServerObserver;
  /** Join a cluster over this backend (absent: a single node). Call `services.cluster.start()` before listening. */
  cluster?: {
    backend: ClusterBackend;
    nodeId: string;
    timings?: Partial<ClusterTimings>;
    observer?: ClusterObserver;
    /** The cluster secret (cluster/secret.ts): ticket keys are then shared by every node, sealed under it. */
    secret?: Buffer;
  };
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
  limits.maxResponseBytes = Math.min(options.chat?.maxResponseBytes ?? Infinity, maxFrameSize - CHUNK_HEADROOM);
  const hub = new Hub();
  const delivery = new Delivery(storage, hub, log.child({ component: 'delivery' }), { ...DEFAULT_DELIVERY, ...options.delivery });
  const accountEvents = new AccountWatcher(storage, hub, log.child({ component: 'accounts' }));
  const members = new GroupMembers(storage);
  const clusterSecret = options.cluster?.secret;
  const cluster = options.cluster
    ? new ClusterNode({
        ...options.cluster,
        storage, hub, delivery, members, accountEvents,
        log: log.child({ component: 'cluster' }),
      })
    : undefined;
  const services: ChatServices = {
    storage,
    accounts: new AccountService({
      storage,
      log: log.child({ component: 'accounts' }),
      work: new PasswordWork({ ...DEFAULT_PASSWORD_WORK, ...options.passwordWork }),
      ...(cluster ? { throttle: new SharedLoginThrottle(cluster.backend.counters, cluster.backend.set, cluster.failures) } : {}),
    }),
    accountEvents,
    hub,
    delivery,
    members,
    recentFiles: new RecentFiles(limits.recentFilesBytes),
    spool: new UploadSpool(options.spoolDir ?? mkdtempSync(join(tmpdir(), 'securechat-spool-')), options.spool),
    quota: new StorageQuota(storage, limits.userQuotaBytes),
    downloadBytes: new ByteBudget(limits.maxDownloadBytes),
    limits,
    log,
    ...(cluster ? { cluster } : {}),
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
    checkTicketLogin: (login) => checkTicketLogin(storage, login),
    restoreLogin,
    ...(options.observer ? { observer: options.observer } : {}),
    ...(cluster
      ? {
          replayGuard: (local: ReplayGuard) => new ClusterReplayGuard(local, cluster.backend.set, cluster.failures),
          // Single use cluster-wide; an unreachable bus rejects, so resumption fails closed (full handshake).
          usedTickets: { addIfAbsent: (key: string, ttlMs: number) => cluster.backend.set.addIfAbsent(`ticket:${key}`, ttlMs) },
          remoteSessions: (username: string) => cluster.presence.sessionsElsewhere(username),
          externalTicketKeys: clusterSecret !== undefined,
        }
      : {}),
  });
  if (cluster) cluster.userRates = server.userRates;
  if (cluster && clusterSecret) {
    cluster.ticketKeys = new SharedTicketKeys({
      values: cluster.backend.values,
      ring: server.tickets.ring,
      secret: clusterSecret,
      namespace: cluster.backend.namespace,
      rotationMs: server.limits.ticketKeyRotationMs,
      lifetimeMs: server.tickets.lifetimeMs,
      failures: cluster.failures,
      log: log.child({ component: 'cluster' }),
    });
  }
  server.once('closed', () => services.spool.close());
  server.once('closing', () => services.accountEvents.stop());
  return server;
}
