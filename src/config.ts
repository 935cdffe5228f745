/**
 * Server configuration: defaults, then a config file (JSONC: comments and trailing commas), then SECURECHAT_*
 * environment variables, then command-line flags — later wins. Every key is documented in
 * docs/securechat.config.example.jsonc, and a test keeps that file and DEFAULT_CONFIG in step.
 */
import { readFileSync } from 'node:fs';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { SecureChatError } from './errors.js';

export interface ServerConfig {
  host: string;
  port: number;
  certs: string;
  db: string;
  /** JSON-lines log file; "off" writes none (containers log to stdout). */
  logFile: string;
  logLevel: string;
  /** Console log format: auto (JSON lines unless stdout is a terminal), json or text. */
  logFormat: string;
  /** Admin HTTP listener (/healthz, /metrics): off when null; 0 picks a free port. */
  adminPort: number | null;
  adminHost: string;
  /** WebSocket + web client listener (HTTPS with the server certificate): off when null; 0 picks a free port. */
  wsPort: number | null;
  /** Plain HTTP on wsPort for a TLS-terminating reverse proxy; client addresses from X-Forwarded-For. */
  wsBehindProxy: boolean;
  /** Sign CSRs sent to POST /api/enrol against one-time tokens (`ca enrol-token`) with the issuing CA key in `certs`. */
  enrolment: boolean;
  /** File whose first line decrypts the CA key for enrolment; "none" for an unencrypted (development) key. */
  caPassphraseFile: string;
  /** POST /api/enrol per client address per minute (also the burst). */
  enrolRequestsPerMinutePerIp: number;
  /** POST /api/enrol per minute over all addresses (also the burst). */
  enrolRequestsPerMinute: number;
  /** Generate a CA and certificates into `certs` when none exists. */
  autoGenerateCerts: boolean;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  pingIntervalMs: number;
  maxHandshakes: number;
  maxHandshakesPerIp: number;
  replayWindowMs: number;
  maxFileBytes: number;
  maxTextBytes: number;
  requestsPerSecond: number;
  requestBurst: number;
  /** One budget for all of a user's sessions (cluster-wide in a cluster); 0 = none. */
  userRequestsPerSecond: number;
  userRequestBurst: number;
  /** Most intermediate CAs between a client certificate and the root (the validator's path bound). */
  maxChainDepth: number;
  // --- hostile clients: per-session memory, fair shares, budgets (README "Limits enforced by the server") ---
  preLoginRequestsPerSecond: number;
  preLoginBurst: number;
  maxInflightBytes: number;
  maxSendQueueBytes: number;
  sendStallTimeoutMs: number;
  maxConcurrentRequests: number;
  maxSessions: number;
  maxSessionsPerIp: number;
  maxSessionsPerCertificate: number;
  maxSessionsPerUser: number;
  fdReserve: number;
  replayCacheSize: number;
  replayCachePerIp: number;
  refusalLogIntervalMs: number;
  // --- session resumption (docs/PROTOCOL.md §9) ---
  ticketLifetimeMs: number;
  ticketKeyRotationMs: number;
  ticketsPerBatch: number;
  ticketCacheSize: number;
  passwordHashConcurrency: number;
  passwordHashesPerIp: number;
  passwordHashesPerCertificate: number;
  spoolDir: string;
  maxSpoolBytesPerSession: number;
  maxSpoolBytesPerUser: number;
  maxSpoolBytes: number;
  uploadIdleTimeoutMs: number;
  userQuotaBytes: number;
  maxOpenDownloads: number;
  maxDownloadBytes: number;
  /** Just-stored files kept in memory for the downloads right after (0 = no cache). */
  recentFilesBytes: number;
  // --- cluster (docs/CLUSTER.md) ---
  /** "memory" (a single node), or the bus several nodes share: redis://host:port or nats://host:port. */
  cluster: string;
  /** This node's name in the cluster; "auto" = hostname-pid. */
  nodeId: string;
  /** Presence lease: a node that dies is seen offline by the others within this plus a second. */
  clusterLeaseMs: number;
  /** While the bus is down, how often each node re-reads pending messages from the database. */
  clusterCatchupMs: number;
  /** A 0600 file with the cluster secret (≥ 32 bytes) that seals the shared ticket keys; "none" = ticket keys per node. */
  clusterSecretFile: string;
}

export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  port: 5000,
  certs: 'certs',
  db: 'sqlite:data/securechat.db',
  logFile: 'logs/securechat.log',
  logLevel: 'info',
  logFormat: 'auto',
  adminPort: null,
  adminHost: '127.0.0.1',
  wsPort: null,
  wsBehindProxy: false,
  enrolment: false,
  caPassphraseFile: 'none',
  enrolRequestsPerMinutePerIp: 10,
  enrolRequestsPerMinute: 60,
  autoGenerateCerts: true,
  maxFrameBytes: 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 90_000,
  pingIntervalMs: 30_000,
  maxHandshakes: 256,
  maxHandshakesPerIp: 64,
  replayWindowMs: 300_000,
  maxFileBytes: 10 * 1024 * 1024,
  maxTextBytes: 64 * 1024,
  requestsPerSecond: 50,
  requestBurst: 200,
  userRequestsPerSecond: 500,
  userRequestBurst: 2000,
  maxChainDepth: 6,
  preLoginRequestsPerSecond: 5,
  preLoginBurst: 20,
  maxInflightBytes: 8 * 1024 * 1024,
  maxSendQueueBytes: 4 * 1024 * 1024,
  sendStallTimeoutMs: 30_000,
  maxConcurrentRequests: 16,
  maxSessions: 10_000,
  maxSessionsPerIp: 512,
  maxSessionsPerCertificate: 32,
  maxSessionsPerUser: 64,
  fdReserve: 128,
  replayCacheSize: 1_000_000,
  replayCachePerIp: 100_000,
  refusalLogIntervalMs: 10_000,
  ticketLifetimeMs: 86_400_000,
  ticketKeyRotationMs: 3_600_000,
  ticketsPerBatch: 2,
  ticketCacheSize: 1_000_000,
  passwordHashConcurrency: 2,
  passwordHashesPerIp: 8,
  passwordHashesPerCertificate: 2,
  spoolDir: 'auto',
  maxSpoolBytesPerSession: 64 * 1024 * 1024,
  maxSpoolBytesPerUser: 128 * 1024 * 1024,
  maxSpoolBytes: 1024 * 1024 * 1024,
  uploadIdleTimeoutMs: 60_000,
  userQuotaBytes: 1024 * 1024 * 1024,
  maxOpenDownloads: 2,
  maxDownloadBytes: 256 * 1024 * 1024,
  recentFilesBytes: 64 * 1024 * 1024,
  cluster: 'memory',
  nodeId: 'auto',
  clusterLeaseMs: 6000,
  clusterCatchupMs: 5000,
  clusterSecretFile: 'none',
};

type Key = keyof ServerConfig;

/** `maxFrameBytes` ↔ `SECURECHAT_MAX_FRAME_BYTES`. */
export function envName(key: Key): string {
  return 'SECURECHAT_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Keys whose value is one of a few words (winston drops every line of an unknown level silently). */
const CHOICES: Partial<Record<Key, readonly string[]>> = {
  logLevel: ['error', 'warn', 'info', 'debug'],
  logFormat: ['auto', 'json', 'text'],
};

/** Numeric keys with an upper bound beyond "a non-negative integer", and why. */
const MAXIMA: Partial<Record<Key, { max: number; why: string }>> = {
  // Held in RAM on top of maxDownloadBytes: a typo (an extra digit or two) must not become a cache the machine cannot hold.
  recentFilesBytes: { max: 8 * 1024 * 1024 * 1024, why: '0 turns the cache off; it is held in memory' },
};

const MINIMA: Partial<Record<Key, { min: number; why: string }>> = {
  // Below the socket's own buffer (16 KiB) a session would count as backlogged while its socket
  // reports no backpressure, and no 'drain' would ever end the backlog: it would be closed as slow.
  maxSendQueueBytes: { min: 64 * 1024, why: 'the send queue must hold more than one socket buffer' },
};

/** Keys that take a port or "off" (null in a file; "off" or "" in the environment and on the command line). */
const OPTIONAL_PORTS: ReadonlySet<Key> = new Set<Key>(['adminPort', 'wsPort']);

function coercePort(key: Key, value: unknown, source: string): number | null {
  if (value === null || value === 'off') return null;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > 65535) throw new SecureChatError('usage', `${source}: "${key}" must be a port 0..65535 or "off", got ${JSON.stringify(value)}.`);
  return n;
}

function coerce(key: Key, value: unknown, source: string): ServerConfig[Key] {
  if (OPTIONAL_PORTS.has(key)) return coercePort(key, value, source);
  const expected = typeof DEFAULT_CONFIG[key];
  if (expected === 'number') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) throw new SecureChatError('usage', `${source}: "${key}" must be a non-negative integer, got ${JSON.stringify(value)}.`);
    if (key === 'port' && n > 65535) throw new SecureChatError('usage', `${source}: port must be 0..65535.`);
    const bound = MAXIMA[key];
    if (bound && n > bound.max) throw new SecureChatError('usage', `${source}: "${key}" must be at most ${bound.max} (${bound.why}), got ${n}.`);
    const floor = MINIMA[key];
    if (floor && n < floor.min) throw new SecureChatError('usage', `${source}: "${key}" must be at least ${floor.min} (${floor.why}), got ${n}.`);
    return n;
  }
  if (expected === 'boolean') {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw new SecureChatError('usage', `${source}: "${key}" must be true or false.`);
  }
  if (typeof value !== 'string' || value === '') throw new SecureChatError('usage', `${source}: "${key}" must be a non-empty string.`);
  if (key === 'cluster' && !/^(memory|redis:\/\/.+|rediss:\/\/.+|nats:\/\/.+)$/.test(value)) {
    throw new SecureChatError('usage', `${source}: "cluster" must be "memory", redis://host:port or nats://host:port.`);
  }
  if (key === 'nodeId' && !/^[A-Za-z0-9_.-]{1,64}$/.test(value)) {
    throw new SecureChatError('usage', `${source}: "nodeId" must be 1-64 letters, digits, "_", "-" or ".".`);
  }
  const choices = CHOICES[key];
  if (choices && !choices.includes(value)) throw new SecureChatError('usage', `${source}: "${key}" must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}.`);
  return value;
}

/** 1-based line and column of a character offset, as editors count them. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lastBreak = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - lastBreak };
}

/** Parses JSONC (// and /* *\/ comments, trailing commas); the first error names its line and column. */
export function parseConfigText(text: string, path: string): unknown {
  const errors: ParseError[] = [];
  const raw: unknown = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  if (errors.length > 0) {
    const first = errors[0];
    const { line, column } = lineAndColumn(text, first.offset);
    throw new SecureChatError('bad_input', `Config file ${path}:${line}:${column}: ${describeParseError(printParseErrorCode(first.error))}.`, {
      details: { line, column },
    });
  }
  return raw;
}

function describeParseError(code: string): string {
  // "CommaExpected" -> "comma expected"
  return code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/** Reads a JSONC config file: comments let the example explain itself, trailing commas are forgiven. */
export function readConfigFile(path: string): Partial<ServerConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SecureChatError('io_error', `Cannot read config file ${path}: ${(err as Error).message}`);
  }
  const raw = parseConfigText(text, path);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new SecureChatError('bad_input', `Config file ${path} must hold a JSON object.`);
  return pick(raw as Record<string, unknown>, `config file ${path}`);
}

function pick(values: Record<string, unknown>, source: string): Partial<ServerConfig> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_CONFIG)) throw new SecureChatError('usage', `${source}: unknown key "${key}" (see docs/securechat.config.example.jsonc).`);
    out[key] = coerce(key as Key, value, source);
  }
  return out as Partial<ServerConfig>;
}

/**
 * The first line of a secret file (Docker/compose secrets, systemd credentials), without its line
 * break. The error names the variable, never the content.
 */
function readValueFile(path: string, variable: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SecureChatError('io_error', `${variable}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
  const line = text.split(/\r?\n/, 1)[0];
  if (line === '') throw new SecureChatError('usage', `${variable}: ${path} is empty.`);
  return line;
}

/** SECURECHAT_X, or the content of the file SECURECHAT_X_FILE names (never both). */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (file !== undefined && file !== '') {
    if (direct !== undefined && direct !== '') throw new SecureChatError('usage', `Set ${name} or ${name}_FILE, not both.`);
    return readValueFile(file, `${name}_FILE`);
  }
  return direct === '' ? undefined : direct;
}

/** Every key can come from SECURECHAT_KEY or from the file named by SECURECHAT_KEY_FILE (secrets: SECURECHAT_DB_FILE). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ServerConfig> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_CONFIG) as Key[]) {
    const value = envValue(env, envName(key));
    if (value !== undefined) out[key] = coerce(key, value, `environment ${envName(key)}`);
  }
  return out as Partial<ServerConfig>;
}

/**
 * SECURECHAT_DB_PASSWORD(_FILE): the MySQL password kept out of the URL, so that the URL can sit in
 * plain configuration and the password in a secret file shared with the database container.
 */
function withDbPassword(db: string, env: NodeJS.ProcessEnv): string {
  const password = envValue(env, 'SECURECHAT_DB_PASSWORD');
  if (password === undefined) return db;
  if (!db.startsWith('mysql://')) throw new SecureChatError('usage', 'SECURECHAT_DB_PASSWORD(_FILE) needs a mysql:// database URL.');
  let url: URL;
  try {
    url = new URL(db);
  } catch {
    throw new SecureChatError('usage', 'Malformed MySQL URL; expected mysql://user@host:port/db.');
  }
  if (url.password !== '') throw new SecureChatError('usage', 'The database URL already has a password; drop it or SECURECHAT_DB_PASSWORD(_FILE).');
  url.password = encodeURIComponent(password);
  return url.toString();
}

export function resolveConfig(options: { file?: string; flags?: Record<string, unknown>; env?: NodeJS.ProcessEnv }): ServerConfig {
  const env = options.env ?? process.env;
  const config: ServerConfig = {
    ...DEFAULT_CONFIG,
    ...(options.file ? readConfigFile(options.file) : {}),
    ...configFromEnv(env),
    ...pick(options.flags ?? {}, 'command line'),
  };
  return { ...config, db: withDbPassword(config.db, env) };
}
