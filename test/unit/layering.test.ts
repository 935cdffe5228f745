/**
 * Guards the one-way imports of DESIGN.md §3: cli → server | client → protocol | pki | storage →
 * errors, log. protocol/ must stay usable on its own (benchmarks and attack tests drive it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Which top-level areas each area may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  'errors.ts': [],
  'log.ts': [],
  'config.ts': ['errors.ts'],
  protocol: ['errors.ts', 'log.ts'],
  pki: ['errors.ts', 'log.ts'],
  auth: ['errors.ts', 'log.ts'],
  storage: ['errors.ts', 'log.ts'],
  client: ['errors.ts', 'log.ts', 'protocol', 'pki'],
  // The browser client: shared protocol/ and pki/ code only (no Node, no server, no storage).
  web: ['errors.ts', 'protocol', 'pki'],
  server: ['errors.ts', 'log.ts', 'config.ts', 'protocol', 'pki', 'storage', 'auth'],
  cli: ['errors.ts', 'log.ts', 'config.ts', 'protocol', 'pki', 'storage', 'auth', 'server', 'client'],
};

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith('.ts') || name.endsWith('.tsx')) yield path;
  }
}

const areaOf = (path: string): string => relative(SRC, path).split('/')[0];

test('imports between src/ areas point one way', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const from = areaOf(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = areaOf(resolve(dirname(file), m[1].replace(/\.js$/, '.ts')));
      if (target !== from && !ALLOWED[from]?.includes(target)) violations.push(`${relative(SRC, file)} imports ${m[1]}`);
    }
  }
  assert.deepEqual(violations, []);
});

/** Every src/ module the web client (src/web/) reaches through relative imports, itself included. */
function webClosure(): Set<string> {
  const seen = new Set<string>();
  const todo = [...files(join(SRC, 'web'))].filter((f) => !f.endsWith('vite.config.ts'));
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^import (?!type )[^;]*?from '(\.[^']+)'/gm)) {
      const target = resolve(dirname(file), m[1]);
      const ts = target.replace(/\.js$/, '.ts');
      const tsx = target.replace(/\.js$/, '.tsx');
      todo.push(statSafe(ts) ? ts : tsx);
    }
  }
  return seen;
}

function statSafe(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

test('the browser client and the shared code it runs import no node:* module at run time', () => {
  const offenders: string[] = [];
  for (const file of webClosure()) {
    for (const m of readFileSync(file, 'utf8').matchAll(/^import (?!type )[^;]*?from '(node:[^']+|ws|winston)'/gm)) offenders.push(`${relative(SRC, file)} imports ${m[1]}`);
  }
  assert.deepEqual(offenders, []);
  // The closure is what the page bundles: the async handshake and the chain check are in it.
  const names = [...webClosure()].map((f) => relative(SRC, f));
  for (const must of ['protocol/handshake-client-async.ts', 'protocol/channel-async.ts', 'pki/web-verify.ts', 'protocol/crypto/webcrypto.ts']) assert.ok(names.includes(must), must);
});
