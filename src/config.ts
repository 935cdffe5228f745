/**
 * Server configuration: defaults, then a config file (JSON with // comments), then SECURECHAT_*
 * environment variables, then command-line flags — later wins. Every key is documented in
 * docs/securechat.config.example.jsonc, and a test keeps that file and DEFAULT_CONFIG in step.
 */
import { readFileSync } from 'node:fs';
import { SecureChatError } from './errors.js';

export interface ServerConfig {
  host: string;
  port: number;
  certs: string;
  db: string;
  logFile: string;
  logLevel: string;
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
}

export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  port: 5000,
  certs: 'certs',
  db: 'sqlite:data/securechat.db',
  logFile: 'logs/securechat.log',
  logLevel: 'info',
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
};

type Key = keyof ServerConfig;

/** `maxFrameBytes` ↔ `SECURECHAT_MAX_FRAME_BYTES`. */
export function envName(key: Key): string {
  return 'SECURECHAT_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

function coerce(key: Key, value: unknown, source: string): ServerConfig[Key] {
  const expected = typeof DEFAULT_CONFIG[key];
  if (expected === 'number') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) throw new SecureChatError('usage', `${source}: "${key}" must be a non-negative integer, got ${JSON.stringify(value)}.`);
    if (key === 'port' && n > 65535) throw new SecureChatError('usage', `${source}: port must be 0..65535.`);
    return n;
  }
  if (expected === 'boolean') {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw new SecureChatError('usage', `${source}: "${key}" must be true or false.`);
  }
  if (typeof value !== 'string' || value === '') throw new SecureChatError('usage', `${source}: "${key}" must be a non-empty string.`);
  return value;
}

/** Reads a JSON config file; whole-line `//` comments are allowed so the example can explain itself. */
export function readConfigFile(path: string): Partial<ServerConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SecureChatError('io_error', `Cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\s*\/\/.*$/gm, ''));
  } catch (err) {
    throw new SecureChatError('bad_input', `Config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
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

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ServerConfig> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_CONFIG) as Key[]) {
    const value = env[envName(key)];
    if (value !== undefined && value !== '') out[key] = coerce(key, value, `environment ${envName(key)}`);
  }
  return out as Partial<ServerConfig>;
}

export function resolveConfig(options: { file?: string; flags?: Record<string, unknown>; env?: NodeJS.ProcessEnv }): ServerConfig {
  return {
    ...DEFAULT_CONFIG,
    ...(options.file ? readConfigFile(options.file) : {}),
    ...configFromEnv(options.env),
    ...pick(options.flags ?? {}, 'command line'),
  };
}
