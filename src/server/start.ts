/**
 * Starts a chat server from a ServerConfig: makes sure there are certificates (generating a CA on
 * first run, loudly), opens the storage, listens, and returns a handle whose `stop` shuts down
 * gracefully (stop accepting, finish in-flight writes, close the database).
 */
import { createPublicKey } from 'node:crypto';
import { hostname } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ServerConfig } from '../config.js';
import { SecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import { caExists, caKeyIsUnencrypted } from '../pki/ca.js';
import { ensureCertificates, UNENCRYPTED_WARNING } from '../pki/generate.js';
import { ParsedCert } from '../pki/cert.js';
import { readPemCertificates, readPrivateKey } from '../pki/pem.js';
import { TrustStore } from '../pki/trust-store.js';
import type { LocalIdentity } from '../protocol/types.js';
import { redactDbUrl } from '../storage/index.js';
import type { Storage } from '../storage/types.js';
import { createChatServer } from './app.js';
import { openClusterBackend, redactClusterUrl, type ClusterBackend } from './cluster/index.js';
import { readClusterSecret } from './cluster/secret.js';
import { openNamedStorage } from './db-target.js';
import { reopenLogFile } from './log-file.js';
import type { SecureChatServer, ServerLimits } from './server.js';
import type { ServerMetrics } from './metrics.js';
import type { ChatServices } from './services.js';
import { listenWebSocket, type WsTransport } from './transports/ws.js';
import { EnrolmentService } from './enrolment.js';
import { loadIssuingCa, type IssuingCa } from '../pki/ca-store.js';
import { readSecretFile } from '../pki/files.js';
import { builtWebRoot } from './web-root.js';

export interface RunningServer {
  server: SecureChatServer<ChatServices>;
  storage: Storage;
  port: number;
  host: string;
  /** The WebSocket + web client listener, when `wsPort` is set. */
  ws?: WsTransport;
  /** SIGHUP: re-reads the CRL, the server certificate and key, and reopens the log file; what fails keeps the old. */
  reload(): { crl: boolean; identity: boolean; logFile: boolean; webTls?: boolean; webTrust?: boolean };
  stop(): Promise<void>;
  /** The CRL file the server watches, if the CA directory has one. */
  crlFile?: string;
}

export interface StartOptions {
  /** Counts handshakes, requests and storage writes of this server. */
  metrics?: ServerMetrics;
}

/** `auto` = hostname-pid: unique per process, so a restarted node never inherits a dead one's sessions. */
export function nodeIdFor(config: Pick<ServerConfig, 'nodeId'>): string {
  return config.nodeId !== 'auto' ? config.nodeId : `${hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40)}-${process.pid}`;
}

const CLUSTER_NEEDS_MYSQL = 'A cluster needs one database shared by every node: use --db mysql://… (SQLite is a file of one node).';

/** Opens the cluster backend of a `cluster` setting, or nothing for a single node; refuses a cluster on SQLite. */
async function openCluster(config: ServerConfig, log: Logger): Promise<{ backend: ClusterBackend; nodeId: string; secret?: Buffer } | undefined> {
  if (config.cluster === 'memory') {
    if (config.clusterSecretFile !== 'none') log.warn('clusterSecretFile is set but this node is not in a cluster (cluster = memory): ignored');
    return undefined;
  }
  if (!config.db.startsWith('mysql://')) throw new SecureChatError('usage', CLUSTER_NEEDS_MYSQL);
  const nodeId = nodeIdFor(config);
  // Read (and its mode checked) before connecting: a bad secret file must not start a node.
  const secret = config.clusterSecretFile !== 'none' ? readClusterSecret(config.clusterSecretFile) : undefined;
  if (!secret && config.ticketsPerBatch > 0) {
    log.warn('cluster: no clusterSecretFile, so session-ticket keys stay per node: a ticket resumes only on the node that issued it (docs/CLUSTER.md)');
  }
  log.info(`cluster: connecting to ${redactClusterUrl(config.cluster)} as node ${nodeId}${secret ? ', ticket keys shared' : ''}`);
  return { backend: await openClusterBackend(config.cluster), nodeId, ...(secret ? { secret } : {}) };
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new SecureChatError('io_error', `Cannot read ${what} at ${path}; run \`npm run generate-certs\` or pass --certs DIR.`);
  }
}

/**
 * The server's chain (leaf first) and key, as objects: never PEM strings on the hot path. Refuses a
 * key that does not belong to the certificate (a reload must not swap in a pair that cannot sign).
 */
export function loadServerIdentity(certsDir: string, passphrase?: string): LocalIdentity {
  const chain = readPemCertificates(readFile(join(certsDir, 'server_cert.pem'), 'the server certificate'));
  const privateKey = readPrivateKey(readFile(join(certsDir, 'server_key.pem'), 'the server key'), passphrase);
  const certKey = ParsedCert.fromDer(chain[0]).publicKey?.export({ type: 'spki', format: 'der' });
  if (!certKey || !certKey.equals(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }))) {
    throw new SecureChatError('bad_input', `${join(certsDir, 'server_key.pem')} is not the key of ${join(certsDir, 'server_cert.pem')}.`);
  }
  return { chain, privateKey };
}

export function loadTrust(certsDir: string, opts: { maxChainDepth?: number } = {}): { trust: TrustStore; crlFile?: string } {
  const crlFile = join(certsDir, 'crl.pem');
  const hasCrl = existsSync(crlFile);
  const trust = TrustStore.fromPem(readFile(join(certsDir, 'root_ca.pem'), 'the root CA certificate'), hasCrl ? readFileSync(crlFile, 'utf8') : undefined, opts);
  return hasCrl ? { trust, crlFile } : { trust };
}

/**
 * The issuing CA key for enrolment (`enrolment: true`), decrypted with the passphrase file's first
 * line; refused at start, with what to do, rather than on the first request.
 */
export async function loadEnrolmentCa(config: Pick<ServerConfig, 'certs' | 'caPassphraseFile' | 'wsPort'>): Promise<IssuingCa> {
  if (config.wsPort === null) throw new SecureChatError('usage', 'Enrolment is served on the WebSocket port: give --ws-port too.');
  const passphrase = config.caPassphraseFile === 'none' ? undefined : readSecretFile(config.caPassphraseFile, 'CA passphrase file');
  try {
    return await loadIssuingCa(config.certs, passphrase);
  } catch (err) {
    if (err instanceof SecureChatError && err.code === 'bad_passphrase') {
      throw new SecureChatError('bad_passphrase', `Enrolment needs the CA key in ${config.certs}, which is encrypted: give its passphrase file with --ca-passphrase-file FILE (or SECURECHAT_CA_PASSPHRASE_FILE); ${err.message}`);
    }
    if (err instanceof SecureChatError && err.code === 'io_error') {
      throw new SecureChatError('io_error', `Enrolment needs the issuing CA key in ${config.certs}: ${err.message} Turn enrolment off, or run the server where the CA key is.`);
    }
    throw err;
  }
}

/** `auto`: a spool/ directory beside the SQLite database (the data directory), else data/spool. */
export function spoolDirFor(config: Pick<ServerConfig, 'spoolDir' | 'db'>): string {
  if (config.spoolDir !== 'auto') return config.spoolDir;
  const sqlitePath = config.db.startsWith('sqlite:') ? config.db.slice('sqlite:'.length) : '';
  return sqlitePath && sqlitePath !== ':memory:' ? join(dirname(sqlitePath), 'spool') : join('data', 'spool');
}

/** The per-session and per-source limits of ServerLimits, from the config (README "Limits enforced by the server"). */
function hostileClientLimits(config: ServerConfig): Partial<ServerLimits> {
  return {
    rate: {
      requestsPerSecond: config.requestsPerSecond,
      burst: config.requestBurst,
      maxInflightBytes: config.maxInflightBytes,
      preLoginRequestsPerSecond: config.preLoginRequestsPerSecond,
      preLoginBurst: config.preLoginBurst,
    },
    userRate: { requestsPerSecond: config.userRequestsPerSecond, burst: config.userRequestBurst },
    maxSendQueueBytes: config.maxSendQueueBytes,
    sendStallTimeoutMs: config.sendStallTimeoutMs,
    maxConcurrentRequests: config.maxConcurrentRequests,
    maxSessions: config.maxSessions,
    maxSessionsPerIp: config.maxSessionsPerIp,
    maxSessionsPerCertificate: config.maxSessionsPerCertificate,
    maxSessionsPerUser: config.maxSessionsPerUser,
    fdReserve: config.fdReserve,
    replayCacheSize: config.replayCacheSize,
    replayCachePerIp: config.replayCachePerIp,
    refusalLogIntervalMs: config.refusalLogIntervalMs,
    ticketLifetimeMs: config.ticketLifetimeMs,
    ticketKeyRotationMs: config.ticketKeyRotationMs,
    ticketsPerBatch: config.ticketsPerBatch,
    ticketCacheSize: config.ticketCacheSize,
  };
}

export async function startServer(config: ServerConfig, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  // Refused before anything is generated or opened.
  if (config.cluster !== 'memory' && !config.db.startsWith('mysql://')) throw new SecureChatError('usage', CLUSTER_NEEDS_MYSQL);
  if (!caExists(config.certs)) {
    if (!config.autoGenerateCerts) {
      throw new SecureChatError('ca_missing', `No CA in ${config.certs}; run \`npm run generate-certs -- --out ${config.certs}\`.`);
    }
    log.warn(`*** No CA found in ${config.certs}/ — generating a new root CA, a server certificate and users alice, bob (first run). ***`);
    const result = await ensureCertificates({ dir: config.certs, log: (line) => log.info(line) });
    log.warn(`*** Generated ${result.created.length} files in ${config.certs}/; give clients root_ca.pem and their own <user>_cert.pem/<user>_key.pem. ***`);
  }
  if (caKeyIsUnencrypted(config.certs)) log.warn(UNENCRYPTED_WARNING(config.certs));
  const identity = loadServerIdentity(config.certs);
  const enrolCa = config.enrolment ? await loadEnrolmentCa(config) : undefined;
  if (enrolCa) log.warn(`enrolment on: this server holds the ${enrolCa.issuer.role} CA key of ${config.certs} and signs client certificates for one-time tokens (securechat ca enrol-token)`);
  // The CRL monitor (crl-monitor.ts) warns about a stale CRL, and re-signs it when the CA key is here.
  const { trust, crlFile } = loadTrust(config.certs, { maxChainDepth: config.maxChainDepth });
  const cluster = await openCluster(config, log);
  let opened: Storage;
  try {
    opened = await openNamedStorage(config.db, { log: log.child({ component: 'storage' }) });
  } catch (err) {
    await cluster?.backend.close();
    throw err;
  }
  const storage = options.metrics ? options.metrics.instrumentStorage(opened) : opened;
  log.info(`storage: ${redactDbUrl(config.db)}`);
  const server = createChatServer({
    identity,
    trust,
    ...(crlFile ? { crlFile } : {}),
    caDir: config.certs,
    loadIdentity: () => loadServerIdentity(config.certs),
    storage,
    log,
    limits: {
      maxFrameSize: config.maxFrameBytes,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      pingIntervalMs: config.pingIntervalMs,
      maxHandshakes: config.maxHandshakes,
      maxHandshakesPerIp: config.maxHandshakesPerIp,
      replayWindowMs: config.replayWindowMs,
      ...hostileClientLimits(config),
    },
    chat: {
      maxFileBytes: config.maxFileBytes,
      maxTextBytes: config.maxTextBytes,
      userQuotaBytes: config.userQuotaBytes,
      maxOpenDownloads: config.maxOpenDownloads,
      maxDownloadBytes: config.maxDownloadBytes,
      recentFilesBytes: config.recentFilesBytes,
    },
    spoolDir: spoolDirFor(config),
    spool: {
      maxSpoolBytesPerSession: config.maxSpoolBytesPerSession,
      maxSpoolBytesPerUser: config.maxSpoolBytesPerUser,
      maxSpoolBytes: config.maxSpoolBytes,
      uploadIdleTimeoutMs: config.uploadIdleTimeoutMs,
    },
    passwordWork: {
      maxConcurrent: config.passwordHashConcurrency,
      maxPerAddress: config.passwordHashesPerIp,
      maxPerCertificate: config.passwordHashesPerCertificate,
    },
    ...(options.metrics ? { observer: options.metrics } : {}),
    ...(cluster
      ? {
          cluster: {
            ...cluster,
            timings: { leaseMs: config.clusterLeaseMs, catchupMs: config.clusterCatchupMs },
            ...(options.metrics ? { observer: options.metrics } : {}),
          },
        }
      : {}),
  });
  options.metrics?.observeServer(server);
  const clusterNode = server.services.cluster;
  let address;
  try {
    // Subscribed before listening: no doorbell for a session of this node can be missed.
    await clusterNode?.start();
    address = await server.listen(config.port, config.host);
  } catch (err) {
    await clusterNode?.stop();
    await server.close();
    await storage.close();
    if (err instanceof SecureChatError) throw err;
    throw new SecureChatError('io_error', `Cannot listen on ${config.host}:${config.port}: ${(err as Error).message}. Is another server running? Try --port.`);
  }
  let ws: WsTransport | undefined;
  let enrolment: EnrolmentService | undefined;
  if (config.wsPort !== null) {
    // Answers /api/trust always; /api/enrol only with the CA key (enrolCa), else enrol_disabled.
    enrolment = new EnrolmentService({
      certsDir: config.certs,
      ...(enrolCa ? { ca: enrolCa } : {}),
      limits: { perIpPerMinute: config.enrolRequestsPerMinutePerIp, perMinute: config.enrolRequestsPerMinute },
      log: log.child({ component: 'enrolment' }),
    });
    try {
      ws = await listenWebSocket(server, {
        host: config.host,
        port: config.wsPort,
        maxFrameSize: config.maxFrameBytes,
        certsDir: config.certs,
        behindProxy: config.wsBehindProxy,
        webRoot: builtWebRoot(),
        enrolment,
        preUpgrade: { perAddress: config.maxHandshakesPerIp, total: config.maxHandshakes, tlsHandshakeTimeoutMs: config.handshakeTimeoutMs },
        log,
      });
    } catch (err) {
      await server.close();
      await storage.close();
      throw new SecureChatError('io_error', `Cannot listen for WebSocket on ${config.host}:${config.wsPort}: ${(err as Error).message}. Try --ws-port.`);
    }
  }
  let stopping: Promise<void> | null = null;
  return {
    server,
    storage,
    port: address.port,
    host: address.address,
    ...(ws ? { ws } : {}),
    reload() {
      const reloaded = server.reload();
      return {
        ...reloaded,
        logFile: config.logFile && config.logFile !== 'off' ? reopenLogFile(log, config.logFile) : false,
        ...(ws && !config.wsBehindProxy ? { webTls: ws.reloadTls() } : {}),
        ...(enrolment ? { webTrust: enrolment.reloadTrust() } : {}),
      };
    },
    ...(crlFile ? { crlFile } : {}),
    stop() {
      stopping ??= (async () => {
        // Stop accepting on both listeners first; server.close then ends every session.
        const wsClosed = ws?.close();
        await server.close();
        await wsClosed;
        await clusterNode?.stop();
        await storage.close();
      })();
      return stopping;
    },
  };
}
