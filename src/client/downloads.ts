/**
 * Where received files land. The name comes from a peer, so it is untrusted: only its last path
 * component survives, control and bidi-override characters go, leading dots go (no hidden files,
 * no `..`), and an existing file is never replaced — a collision becomes "name (1).ext".
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { extname, join } from 'node:path';
import { SecureChatError } from '../errors.js';

const MAX_NAME_BYTES = 200;
// C0/C1 controls, DEL, and the Unicode bidi controls that can make "exe.txt" display as "txt.exe".
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function sanitizeFileName(raw: string): string {
  const base = raw.split(/[/\\]/).pop() ?? '';
  let name = base.replace(UNSAFE_CHARS, '').replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  // Windows would refuse these, and ':' would become an alternate data stream there.
  name = name.replace(/[<>:"|?*]/g, '_');
  while (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    const ext = extname(name);
    const stem = name.slice(0, name.length - ext.length);
    name = stem.length > 1 ? stem.slice(0, -1) + ext : name.slice(0, -1);
  }
  return name.length > 0 ? name : 'file';
}

/** "name.ext", "name (1).ext", "name (2).ext", … */
export function candidateName(name: string, n: number): string {
  if (n === 0) return name;
  const ext = extname(name);
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name;
  return `${stem} (${n})${ext && ext !== name ? ext : ''}`;
}

export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new SecureChatError('io_error', `Cannot create the download directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Moves a finished temp file (already in `dir`) to a free, sanitised name and returns the path.
 * The name is reserved with an exclusive create before the rename, so two downloads of the same
 * name never overwrite each other or an existing file.
 */
export function placeDownload(tmpPath: string, dir: string, rawName: string): string {
  const name = sanitizeFileName(rawName);
  for (let n = 0; n < 10_000; n++) {
    const path = join(dir, candidateName(name, n));
    try {
      closeSync(openSync(path, 'wx'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      rmSync(tmpPath, { force: true });
      throw new SecureChatError('io_error', `Cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      renameSync(tmpPath, path);
      return path;
    } catch (err) {
      rmSync(path, { force: true });
      rmSync(tmpPath, { force: true });
      throw new SecureChatError('io_error', `Cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  rmSync(tmpPath, { force: true });
  throw new SecureChatError('io_error', `Too many files named like ${name} in ${dir}.`);
}
