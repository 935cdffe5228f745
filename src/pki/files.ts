/**
 * File I/O for the CA: inputs that cannot be read are usage errors (exit 2), outputs are written
 * atomically (temp file in the same directory, then rename) so that a failure never leaves a
 * half-written key or certificate behind.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SecureChatError } from '../errors.js';

export const PRIVATE_MODE = 0o600;
export const PUBLIC_MODE = 0o644;

export function readInputFile(path: string, what = 'file'): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new SecureChatError('io_error', `The ${what} ${path} ${why}.`, { cause: err });
  }
}

export function readInputText(path: string, what = 'file'): string {
  return readInputFile(path, what).toString('utf8');
}

/** A secret from a `--*-file` flag: one line; the trailing newline editors add is not part of it. */
export function readSecretFile(path: string, what = 'passphrase file'): string {
  const secret = readInputText(path, what).replace(/\r?\n$/, '');
  if (secret.length === 0) throw new SecureChatError('usage', `The ${what} ${path} is empty.`);
  return secret;
}

export function writeFileAtomic(path: string, data: string | Buffer, mode: number = PUBLIC_MODE): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, data, { mode, flag: 'wx' });
    // The umask may have narrowed or widened the mode; keys must end up exactly 0600.
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new SecureChatError('io_error', `Could not write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Refuses to replace an existing output unless the caller asked for it. */
export function assertWritable(paths: string[], force: boolean): void {
  if (force) return;
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0) {
    throw new SecureChatError('exists', `Refusing to overwrite ${existing.join(', ')}; pass --force to replace.`);
  }
}
