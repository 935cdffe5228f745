/** The version of the installed package, read from its package.json (never a second copy in code). */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** src/cli/ and dist/cli/ are both two levels below the package root. */
export function packageVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
