/**
 * Starts a chat server from a ServerConfig: makes sure there are certificates (generating a CA on
 * first run, loudly), opens the storage, listens, and returns a handle whose `stop` shuts down
 * gracefully (stop accepting, finish in-flight writes, close the database).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerConfig } from '../config.js';
import { SecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import { caExists } from '../pki/ca.js';
import { ensureCertificates } from '../pki/generate.js';
import { parseCrlsPem } from '../pki/parsed-crl.js';
import { readPemCertificates, readPrivateKey } from '../pki/pem.js';
import { TrustStore } from '../pki/trust-store.js';
import type { LocalIdentity } from '../protocol/types.js';
import { openStorage, redactDbUrl } from '../storage/index.js';
import type { Storage } from '../storage/types.js';
import { createChatServer } from './app.js';
import type { SecureChatServer } from './server.js';
import type { ServerMetrics } from './metrics.js';
import type { ChatServices } from './services.js';

export interface RunningServer {
  server: SecureChatServer<ChatServices>;
  storage: Storage;
  port: number;
  host: string;
  stop(): Promise<void>;
  /** The CRL file the server watches, if the CA directory has one. */
  crlFile?: string;
}

export interface StartOptions {
  /** Counts handshakes, requests and storage writes of this server. */
  metrics?: ServerMetrics;
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new SecureChatError('io_error', `Cannot read ${what} at ${path}; run \`npm run generate-certs\` or pass --certs DIR.`);
  }
}

/** The server's chain (leaf first) and key, as objects: never PEM strings on the hot path. */
export function loadServerIdentity(certsDir: string, passphrase?: string): LocalIdentity {
  const chain = readPemCertificates(readFile(join(certsDir, 'server_cert.pem'), 'the server certificate'));
  const privateKey = readPrivateKey(readFile(join(certsDir, 'server_key.pem'), 'the server key'), passphrase);
  return { chain, privateKey };
}

export function loadTrust(certsDir: string): { trust: TrustStore; crlFile?: string } {
  const crlFile = join(certsDir, 'crl.pem');
  const hasCrl = existsSync(crlFile);
  const trust = TrustStore.fromPem(readFile(join(certsDir, 'root_ca.pem'), 'the root CA certificate'), hasCrl ? readFileSync(crlFile, 'utf8') : undefined);
  return hasCrl ? { trust, crlFile } : { trust };
}

/** A CRL past its nextUpdate makes every client fail closed (crl_expired): say so while there is time. */
function warnIfCrlStale(crlFile: string, certsDir: string, log: Logger): void {
  const soonest = Math.min(...parseCrlsPem(readFileSync(crlFile, 'utf8')).map((c) => c.nextUpdate?.getTime() ?? Infinity));
  const hoursLeft = (soonest - Date.now()) / 3_600_000;
  if (hoursLeft < 48) {
    log.warn(`The CRL in ${crlFile} ${hoursLeft < 0 ? 'has expired' : `expires in ${Math.max(0, Math.floor(hoursLeft))} h`}: clients will be refused (crl_expired) until it is re-signed. Run \`securechat ca crl --dir ${certsDir}\` (the server reloads it by itself).`);
  }
}

export async function startServer(config: ServerConfig, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  if (!caExists(config.certs)) {
    if (!config.autoGenerateCerts) {
      throw new SecureChatError('ca_missing', `No CA in ${config.certs}; run \`npm run generate-certs -- --out ${config.certs}\`.`);
    }
    log.warn(`*** No CA found in ${config.certs}/ — generating a new root CA, a server certificate and users alice, bob (first run). ***`);
    const result = await ensureCertificates({ dir: config.certs, log: (line) => log.info(line) });
    log.warn(`*** Generated ${result.created.length} files in ${config.certs}/; give clients root_ca.pem and their own <user>_cert.pem/<user>_key.pem. ***`);
  }
  const identity = loadServerIdentity(config.certs);
  const { trust, crlFile } = loadTrust(config.certs);
  if (crlFile) warnIfCrlStale(crlFile, config.certs, log);
  const opened = await openStorage(config.db, { log: log.child({ component: 'storage' }) });
  const storage = options.metrics ? options.metrics.instrumentStorage(opened) : opened;
  log.info(`storage: ${redactDbUrl(config.db)}`);
  const server = createChatServer({
    identity,
    trust,
    ...(crlFile ? { crlFile } : {}),
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
      rate: { requestsPerSecond: config.requestsPerSecond, burst: config.requestBurst, maxInflightBytes: 8 * 1024 * 1024 },
    },
    chat: { maxFileBytes: config.maxFileBytes, maxTextBytes: config.maxTextBytes },
    ...(options.metrics ? { observer: options.metrics } : {}),
  });
  options.metrics?.observeServer(server);
  let address;
  try {
    address = await server.listen(config.port, config.host);
  } catch (err) {
    await storage.close();
    throw new SecureChatError('io_error', `Cannot listen on ${config.host}:${config.port}: ${(err as Error).message}. Is another server running? Try --port.`);
  }
  let stopping: Promise<void> | null = null;
  return {
    server,
    storage,
    port: address.port,
    host: address.address,
    ...(crlFile ? { crlFile } : {}),
    stop() {
      stopping ??= (async () => {
        await server.close();
        await storage.close();
      })();
      return stopping;
    },
  };
}
