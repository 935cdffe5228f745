#!/usr/bin/env node
// Installed entry point: the compiled CLI in dist/ (built by `npm run build`, `npm pack` and `npm start`).
// No TypeScript at run time: developers run the sources with `npm run securechat -- …` (tsx).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const compiled = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'index.js');
if (!existsSync(compiled)) {
  process.stderr.write('securechat: dist/ is missing; run `npm run build` first (a git checkout is not built).\n');
  process.exit(1);
}
await import(pathToFileURL(compiled).href);
