/**
 * The cluster secret: the operator's 0600 file (`clusterSecretFile`) from which every node derives
 * the key that seals the shared ticket keys (ticket-keys.ts). Only a path ever reaches argv, the
 * environment or the config; the content never reaches a log line or an error message.
 */
import { readFileSync, statSync } from 'node:fs';
import { SecureChatError } from '../../errors.js';

export const MIN_CLUSTER_SECRET_BYTES = 32;

/**
 * Reads the secret: the file's bytes without trailing whitespace (a newline from `echo` or an
 * editor must not make two nodes' secrets differ). Refuses a file that group or others may read,
 * or one shorter than 32 bytes (`openssl rand -base64 48 > FILE` makes a good one).
 */
export function readClusterSecret(path: string): Buffer {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw new SecureChatError('io_error', `Cannot read the cluster secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
  if ((mode & 0o077) !== 0) {
    throw new SecureChatError('usage', `The cluster secret file ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it.`);
  }
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new SecureChatError('io_error', `Cannot read the cluster secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d || raw[end - 1] === 0x20 || raw[end - 1] === 0x09)) end--;
  const secret = Buffer.from(raw.subarray(0, end));
  raw.fill(0);
  if (secret.length < MIN_CLUSTER_SECRET_BYTES) {
    secret.fill(0);
    throw new SecureChatError('usage', `The cluster secret in ${path} is shorter than ${MIN_CLUSTER_SECRET_BYTES} bytes; make one with \`openssl rand -base64 48 > ${path}\`.`);
  }
  return secret;
}
