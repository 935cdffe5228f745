/**
 * One writer at a time in a CA directory. `ca issue`, `ca revoke`, `ca enrol-token` and a server
 * signing enrolment requests may run at once against the same index.json and token file; each
 * read-modify-write of those files runs inside `withCaLock`, re-reading the file it changes, so no
 * writer can overwrite another's entry with a stale copy.
 *
 * The lock is a file created with O_EXCL holding the owner's pid. Sections under it are
 * synchronous and short (read a JSON file, change it, write it back: well under a millisecond), so
 * a waiter sleeps in small steps for at most LOCK_WAIT_MS. A lock whose owner process is gone (a
 * crash mid-section) is broken; a live owner holding it longer than that is reported, never broken.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SecureChatError } from '../errors.js';

export const LOCK_FILE = '.ca.lock';
/** How long a writer waits for another to finish before giving up with io_error. */
export const LOCK_WAIT_MS = 5_000;
const STEP_MS = 2;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function ownerAlive(path: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(path, 'utf8').trim());
  } catch {
    return true; // vanished or unreadable: just retry
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return false; // a torn write by a crashed owner
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function acquire(path: string, waitMs: number): void {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SecureChatError('io_error', `Cannot create the CA lock ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!ownerAlive(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new SecureChatError('io_error', `The CA directory is locked by another process (${path}); retry when it has finished.`);
    }
    sleepSync(STEP_MS);
  }
}

/** Runs `fn` holding the CA directory's lock. `fn` must be synchronous: the lock is never held across an await. */
export function withCaLock<T>(dir: string, fn: () => T, waitMs = LOCK_WAIT_MS): T {
  const path = join(dir, LOCK_FILE);
  // Re-entrant within this process: the sections are synchronous, so nothing else can interleave.
  if (held.has(path)) return fn();
  acquire(path, waitMs);
  held.add(path);
  try {
    return fn();
  } finally {
    held.delete(path);
    rmSync(path, { force: true });
  }
}

const held = new Set<string>();
