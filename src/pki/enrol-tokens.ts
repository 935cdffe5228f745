/**
 * One-time enrolment tokens (`securechat ca enrol-token NAME`): a token lets whoever holds it get
 * ONE client certificate for NAME signed by the server (POST /api/enrol), before it expires.
 *
 * Storage: DIR/enrol-tokens.json (mode 0600) beside index.json, holding only a SHA-256 of each
 * token, never the token. A token carries 256 random bits, so a fast hash is enough: nobody can
 * guess one, and a stolen file yields no usable token. The file lives in the CA directory because
 * spending a token and recording the certificate it paid for must be one step under the CA lock
 * (ca-lock.ts), and because the CA tool works on that directory without a database connection.
 *
 * Token text: `sct1.<id: 16 hex>.<secret: 43 base64url>`. The id is not secret (it names the token
 * in `--list`, `--revoke` and log lines); the whole text is hashed and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SecureChatError } from '../errors.js';
import { withCaLock } from './ca-lock.js';
import { readCaIndex } from './ca-store.js';
import { parseDuration, parseTimeSpec } from './duration.js';
import { PRIVATE_MODE, readInputText, writeFileAtomic } from './files.js';
import { assertUsername } from './profiles.js';

export const TOKEN_FILE = 'enrol-tokens.json';
export const DEFAULT_TOKEN_TTL = '1h';
/** A token is a credential in transit: days, not months. */
export const MAX_TOKEN_TTL_MS = 7 * 86_400_000;
/** Validity of the certificate a token buys (the `ca issue client` default). */
export const DEFAULT_ENROL_CERT_VALIDITY = '90d';
/** Bound on the file: unspent, unexpired tokens at once. */
export const MAX_OPEN_TOKENS = 1000;
/** Spent, expired and revoked tokens stay listed this long (an audit trail), then are pruned. */
export const TOKEN_RETENTION_MS = 30 * 86_400_000;
/** Longest text accepted as a token before any parsing (the real ones are 65 characters). */
export const MAX_TOKEN_TEXT = 128;

const TOKEN_RE = /^sct1\.([0-9a-f]{16})\.[A-Za-z0-9_-]{43}$/;

export type TokenStatus = 'valid' | 'used' | 'expired' | 'revoked';

interface TokenRecord {
  id: string;
  name: string;
  /** SHA-256 (hex) of the whole token text. */
  sha256: string;
  createdAt: string;
  expiresAt: string;
  /** Validity of the certificate it buys: a duration (90d) or an ISO date. */
  certValidity: string;
  usedAt?: string;
  /** Serial of the certificate the token paid for. */
  serial?: string;
  revokedAt?: string;
}

interface TokenFile {
  version: 1;
  tokens: TokenRecord[];
}

/** A token as listed: everything but its hash. */
export interface TokenInfo {
  id: string;
  name: string;
  status: TokenStatus;
  createdAt: string;
  expiresAt: string;
  certValidity: string;
  usedAt?: string;
  serial?: string;
  revokedAt?: string;
}

export interface NewToken extends TokenInfo {
  /** The token itself: shown once, stored nowhere. */
  token: string;
}

const tokenPath = (dir: string): string => join(dir, TOKEN_FILE);
const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

function readTokens(dir: string): TokenFile {
  const path = tokenPath(dir);
  if (!existsSync(path)) return { version: 1, tokens: [] };
  let file: TokenFile;
  try {
    file = JSON.parse(readInputText(path, 'enrolment token file')) as TokenFile;
  } catch (err) {
    if (err instanceof SecureChatError) throw err;
    throw new SecureChatError('bad_input', `The enrolment token file ${path} is not valid JSON.`, { cause: err });
  }
  if (file.version !== 1 || !Array.isArray(file.tokens)) throw new SecureChatError('bad_input', `The enrolment token file ${path} has an unknown format.`);
  return file;
}

function statusOf(t: TokenRecord, now: Date): TokenStatus {
  if (t.revokedAt) return 'revoked';
  if (t.usedAt) return 'used';
  return Date.parse(t.expiresAt) <= now.getTime() ? 'expired' : 'valid';
}

/** When a token stopped being usable, or undefined while it is. */
function endedAt(t: TokenRecord, now: Date): number | undefined {
  if (statusOf(t, now) === 'valid') return undefined;
  return Date.parse(t.revokedAt ?? t.usedAt ?? t.expiresAt);
}

function writeTokens(dir: string, file: TokenFile, now: Date): void {
  file.tokens = file.tokens.filter((t) => {
    const ended = endedAt(t, now);
    return ended === undefined || now.getTime() - ended < TOKEN_RETENTION_MS;
  });
  writeFileAtomic(tokenPath(dir), JSON.stringify(file, null, 2) + '\n', PRIVATE_MODE);
}

function info(t: TokenRecord, now: Date): TokenInfo {
  const { sha256: _hash, ...rest } = t;
  return { ...rest, status: statusOf(t, now) };
}

/** `--ttl`: a duration only (a token that outlives a week is a standing credential). */
export function parseTokenTtl(ttl: string): number {
  const ms = parseDuration(ttl);
  if (ms === undefined || ms <= 0) throw new SecureChatError('usage', `--ttl "${ttl}" is not a duration (30m, 1h, 2d).`);
  if (ms > MAX_TOKEN_TTL_MS) throw new SecureChatError('usage', `--ttl ${ttl} is longer than the maximum of 7d; issue a new token when it is needed.`);
  return ms;
}

export interface CreateTokenOptions {
  dir: string;
  name: string;
  ttl?: string;
  /** Validity of the certificate (duration or ISO date); default 90d. */
  certValidity?: string;
  now?: Date;
}

export function createEnrolToken(opts: CreateTokenOptions): NewToken {
  const now = opts.now ?? new Date();
  assertUsername(opts.name);
  const ttlMs = parseTokenTtl(opts.ttl ?? DEFAULT_TOKEN_TTL);
  const certValidity = opts.certValidity ?? DEFAULT_ENROL_CERT_VALIDITY;
  parseTimeSpec(certValidity, now); // refused now, not when the certificate is signed
  readCaIndex(opts.dir); // a CA must exist here
  const id = randomBytes(8).toString('hex');
  const token = `sct1.${id}.${randomBytes(32).toString('base64url')}`;
  const record: TokenRecord = {
    id,
    name: opts.name,
    sha256: sha256Hex(token),
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
    certValidity,
  };
  withCaLock(opts.dir, () => {
    const file = readTokens(opts.dir);
    const open = file.tokens.filter((t) => statusOf(t, now) === 'valid').length;
    if (open >= MAX_OPEN_TOKENS) {
      throw new SecureChatError('usage', `${open} enrolment tokens are still open (the maximum); revoke some (ca enrol-token --list / --revoke ID) or let them expire.`);
    }
    file.tokens.push(record);
    writeTokens(opts.dir, file, now);
  });
  return { ...info(record, now), token };
}

export function listEnrolTokens(dir: string, now = new Date()): TokenInfo[] {
  readCaIndex(dir);
  return readTokens(dir).tokens.map((t) => info(t, now));
}

export function revokeEnrolToken(dir: string, id: string, now = new Date()): TokenInfo {
  readCaIndex(dir);
  return withCaLock(dir, () => {
    const file = readTokens(dir);
    const record = file.tokens.find((t) => t.id === id.trim().toLowerCase());
    if (!record) throw new SecureChatError('not_found', `No enrolment token with id ${id} in ${dir}; see \`securechat ca enrol-token --list --dir ${dir}\`.`);
    const status = statusOf(record, now);
    if (status !== 'valid') throw new SecureChatError('exists', `Enrolment token ${record.id} for ${record.name} is already ${status}.`);
    record.revokedAt = now.toISOString();
    writeTokens(dir, file, now);
    return info(record, now);
  });
}

/** What a valid token lets its holder enrol: the name and the certificate's validity. */
export interface TokenGrant {
  id: string;
  name: string;
  certValidity: string;
}

/** The record a presented token names, if its hash matches (constant-time); otherwise undefined. */
function matching(file: TokenFile, presented: string): TokenRecord | undefined {
  if (presented.length > MAX_TOKEN_TEXT) return undefined;
  const m = TOKEN_RE.exec(presented);
  if (!m) return undefined;
  const record = file.tokens.find((t) => t.id === m[1]);
  if (!record) return undefined;
  const stored = Buffer.from(record.sha256, 'hex');
  const given = createHash('sha256').update(presented, 'utf8').digest();
  return stored.length === given.length && timingSafeEqual(stored, given) ? record : undefined;
}

function grantOf(record: TokenRecord | undefined, now: Date): TokenGrant {
  if (!record) throw new SecureChatError('enrol_token_invalid');
  switch (statusOf(record, now)) {
    case 'used':
      throw new SecureChatError('enrol_token_used');
    case 'revoked':
      // Indistinguishable from a wrong token to its holder: the operator withdrew it.
      throw new SecureChatError('enrol_token_invalid');
    case 'expired':
      throw new SecureChatError('enrol_token_expired');
    case 'valid':
      return { id: record.id, name: record.name, certValidity: record.certValidity };
  }
}

/** Checks a presented token without spending it: its grant, or enrol_token_invalid / _used / _expired. */
export function checkEnrolToken(dir: string, presented: string, now = new Date()): TokenGrant {
  return grantOf(matching(readTokens(dir), presented), now);
}

/**
 * Spends a token: under the CA lock, re-checks it on a fresh read, marks it used, then runs
 * `record` (which records the certificate it paid for; synchronous, inside the same lock) and
 * notes that serial. Of two requests racing with one token, exactly one gets here first; the
 * other finds it used. The token is written spent before the certificate is recorded, so a crash
 * between the two can cost a token, never issue two certificates; if `record` throws, the token
 * is given back.
 */
export function spendEnrolToken<T extends { serial: string }>(dir: string, presented: string, record: (grant: TokenGrant) => T, now = new Date()): T {
  return withCaLock(dir, () => {
    const file = readTokens(dir);
    const found = matching(file, presented);
    const grant = grantOf(found, now);
    const spent = found as TokenRecord;
    spent.usedAt = now.toISOString();
    writeTokens(dir, file, now);
    let result: T;
    try {
      result = record(grant);
    } catch (err) {
      delete spent.usedAt;
      writeTokens(dir, file, now);
      throw err;
    }
    spent.serial = result.serial;
    writeTokens(dir, file, now);
    return result;
  });
}

/** The id of a well-formed token text (not secret: it names the token in lists and logs), else undefined. */
export function tokenIdOf(presented: string): string | undefined {
  if (presented.length > MAX_TOKEN_TEXT) return undefined;
  return TOKEN_RE.exec(presented)?.[1];
}
