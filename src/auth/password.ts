/**
 * Password hashing with scrypt (node:crypto, run off the event loop). The stored string describes
 * itself — `scrypt$N$r$p$<salt b64>$<hash b64>` — so the parameters can be raised later: verify uses
 * the stored ones, and `needsRehash` tells the caller to re-hash at the next successful login.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** ~32 MiB and tens of ms per hash: OWASP's minimum for scrypt is N=2^17 with r=8 at p=1 for
 * interactive logins on dedicated hardware; 2^15 keeps a small chat server responsive. Raise freely. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;

function scryptAsync(password: string, salt: Buffer, keyLen: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyLen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

interface Parsed extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

function parse(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map((x) => Number(x));
  const salt = Buffer.from(parts[4], 'base64');
  const hash = Buffer.from(parts[5], 'base64');
  const ok = [N, r, p].every((v) => Number.isSafeInteger(v) && v > 0) && (N & (N - 1)) === 0 && salt.length >= 16 && hash.length >= 16;
  return ok ? { N, r, p, salt, hash } : null;
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(password, salt, KEY_BYTES, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Constant-time comparison of the derived key; a malformed stored string never verifies. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const candidate = await scryptAsync(password, parsed.salt, parsed.hash.length, parsed);
  return candidate.length === parsed.hash.length && timingSafeEqual(candidate, parsed.hash);
}

/** True when the stored hash used weaker parameters than `current` (or cannot be parsed). */
export function needsRehash(stored: string, current: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const parsed = parse(stored);
  if (!parsed) return true;
  return parsed.N < current.N || parsed.r < current.r || parsed.p < current.p || parsed.hash.length < KEY_BYTES;
}

/** The parameters recorded in a stored hash (null if malformed). */
export function hashParams(stored: string): ScryptParams | null {
  const parsed = parse(stored);
  return parsed ? { N: parsed.N, r: parsed.r, p: parsed.p } : null;
}
