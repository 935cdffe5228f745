/**
 * Real-browser test plumbing: Debian's Chromium driven by playwright-core, trusting the test CA's
 * root the way a user's machine would — through an NSS certificate database in the browser's
 * $HOME (~/.pki/nssdb, what Chromium on Linux reads; certutil from libnss3-tools) — never with
 * --ignore-certificate-errors. The page's own handshake then checks the server chain again
 * against the anchors it holds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from '../helpers/cli.js';

export const CHROMIUM = process.env.SECURECHAT_CHROMIUM ?? '/usr/bin/chromium';
export const REQUIRE_BROWSER = process.env.SECURECHAT_TEST_REQUIRE_BROWSER === '1';

/** Why the browser suite cannot run here (undefined: it can). With REQUIRE_BROWSER this is a failure. */
export function browserUnavailable(): string | undefined {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set SECURECHAT_CHROMIUM)`;
  if (spawnSync('certutil', ['-H'], { stdio: 'ignore' }).error) return 'no certutil (apt-get install libnss3-tools)';
  return undefined;
}

/** Skips loudly, or throws when CI requires the browser suite. */
export function skipReason(): string | false {
  const why = browserUnavailable();
  if (!why) return false;
  if (REQUIRE_BROWSER) throw new Error(`SECURECHAT_TEST_REQUIRE_BROWSER=1 but ${why}`);
  console.warn(`\n*** browser suite SKIPPED: ${why} ***\n`);
  return why;
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds web-dist/ when it is missing or older than src/ (what `serve --ws-port` serves). */
export function ensureWebBuild(): void {
  const index = join(REPO_ROOT, 'web-dist', 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newest(join(REPO_ROOT, 'src'))) return;
  execFileSync('npm', ['run', 'build:web'], { cwd: REPO_ROOT, stdio: 'inherit' });
}

/** A $HOME whose NSS database trusts `rootPemFile` as a CA for TLS servers. */
export function homeTrusting(rootPemFile: string): string {
  const home = mkdtempSync(join(tmpdir(), 'sc-browser-home-'));
  const db = join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync('certutil', ['-d', `sql:${db}`, '-N', '--empty-password'], { stdio: 'ignore' });
  execFileSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'SecureChat test root', '-i', rootPemFile], { stdio: 'ignore' });
  return home;
}

export async function launchBrowser(home: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, HOME: home },
    // No sandbox: CI runs as root, where Chromium refuses to start with it. No GPU on the machine.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}
