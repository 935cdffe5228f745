#!/usr/bin/env node
/**
 * Compiles src/ into dist/ when dist/ is missing or older than any source file, so that
 * `npm ci && npm start` works on a fresh clone and later starts skip the ~3 s compile.
 * `--clean` (prepack) always rebuilds from an empty dist/, so no file of a deleted module ships.
 * Plain JavaScript on purpose: it must run before anything is compiled and without tsx.
 */
import process from 'node:process';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', 'cli', 'index.js');
const clean = process.argv.includes('--clean');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const inputs = Math.max(newestMtime(join(root, 'src')), ...['tsconfig.json', 'tsconfig.build.json', 'package.json'].map((f) => statSync(join(root, f)).mtimeMs));
if (!clean && existsSync(stamp) && statSync(stamp).mtimeMs >= inputs) process.exit(0);

if (clean) rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
if (!clean) process.stderr.write('securechat: compiling src/ into dist/ (sources changed since the last build)\n');
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
