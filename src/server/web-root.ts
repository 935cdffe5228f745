/**
 * Where the built web client lives: `web-dist/` at the package root (built by `npm run build:web`,
 * shipped in the package). Resolved from this module's location, which is two levels below the
 * root both in src/ (tsx) and in dist/ (compiled).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const WEB_DIST = 'web-dist';

export function builtWebRoot(): string | null {
  const root = join(fileURLToPath(new URL('../../', import.meta.url)), WEB_DIST);
  return existsSync(join(root, 'index.html')) ? root : null;
}
