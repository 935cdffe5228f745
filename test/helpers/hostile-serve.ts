/**
 * The real `securechat serve` as its own process, for tests about what a hostile client can make
 * the server hold: a throwaway PKI and SQLite database, a config file with the limits under test,
 * the server's console output (human log lines) captured, and its RSS read from /proc/PID/status
 * from the outside, sampled so a test can assert the peak. Process start-up is serve-process.ts's,
 * the PKI and client dialling chat-server.ts's.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureChatClient } from '../../src/client/client.js';
import type { TrustStore } from '../../src/pki/trust-store.js';
import type { LocalIdentity } from '../../src/protocol/types.js';
import { dmRoundTrip } from '../../scripts/fuzz/round-trip.js';
import { dialClient, makeTestPki, userIdentity } from './chat-server.js';
import { startServe as spawnServe } from './serve-process.js';

export const PASSWORD = 'correct horse battery staple';

export interface ServeProcess {
  port: number;
  /** The certificate directory (root_ca.pem, <user>_cert.pem, <user>_key.pem). */
  certs: string;
  pid: number;
  /** The data directory: chat.db, spool/, server.log. */
  dir: string;
  dbFile: string;
  trust: TrustStore;
  identity(user: string): LocalIdentity;
  /** Console output so far (the human log lines). */
  output(): string;
  /** Current RSS of the server process, in bytes (VmRSS from /proc/PID/status). */
  rss(): number;
  /** Highest RSS seen by the sampler since the last resetPeak(). */
  readonly peakRss: number;
  resetPeak(): void;
  /**
   * The value of one Prometheus sample from the server's /metrics (`name` with its labels, e.g.
   * `securechat_file_memory_bytes{use="transfers"}`); 0 if absent. Needs `admin: true`.
   */
  metric(series: string): Promise<number>;
  /** A normal client (SecureChatClient) that registers or logs in. */
  login(user: string): Promise<SecureChatClient>;
  stop(): Promise<void>;
}

export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export interface ServeOptions {
  users?: string[];
  /** Config keys (see docs/securechat.config.example.jsonc). */
  config?: Record<string, unknown>;
  /** Soft and hard RLIMIT_NOFILE for the server process (via `ulimit -n` before exec). */
  nofile?: number;
  /** Start the admin listener (/metrics) on a free loopback port. */
  admin?: boolean;
}

export async function startServe(options: ServeOptions = {}): Promise<ServeProcess> {
  const pki = await makeTestPki(options.users ?? ['alice', 'bob', 'carol', 'mallory']);
  const dir = mkdtempSync(join(tmpdir(), 'securechat-hostile-'));
  const configFile = join(dir, 'config.json');
  const dbFile = join(dir, 'chat.db');
  // The default configuration (resumption tickets included) but for the log level and the limits under test.
  writeFileSync(configFile, JSON.stringify({ logLevel: 'info', ...options.config }));
  const serve = await spawnServe(
    ['--config', configFile, '--port', '0', '--certs', pki.dir, '--db', `sqlite:${dbFile}`, '--log-file', join(dir, 'server.log'), '--no-generate', ...(options.admin ? ['--admin-port', '0'] : [])],
    options.nofile ? { nofile: options.nofile } : {},
  );
  const adminUrl = options.admin ? (await serve.waitFor(/admin listening on (http:\/\/[\d.]+:\d+)/))[1] : null;
  const pid = serve.child.pid as number;
  let peak = rssOf(pid);
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssOf(pid));
    } catch {
      // exited
    }
  }, 20);
  sampler.unref();
  const registered = new Set<string>();
  return {
    port: serve.port,
    certs: pki.dir,
    pid,
    dir,
    dbFile,
    trust: pki.trust,
    identity: (user) => userIdentity(pki, user),
    output: serve.output,
    rss: () => rssOf(pid),
    get peakRss() {
      return peak;
    },
    resetPeak() {
      peak = rssOf(pid);
    },
    async metric(series) {
      if (!adminUrl) throw new Error('startServe({ admin: true }) to read metrics');
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : 0;
    },
    async login(user) {
      const client = await dialClient(serve.port, pki, user);
      if (registered.has(user)) await client.request('login', { password: PASSWORD });
      else {
        await client.request('register', { password: PASSWORD }).catch(async () => client.request('login', { password: PASSWORD }));
        registered.add(user);
      }
      return client;
    },
    async stop() {
      clearInterval(sampler);
      const killer = setTimeout(() => serve.child.kill('SIGKILL'), 10_000);
      await serve.stop();
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
      rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}

export { dmRoundTrip };

/** alice and bob log in afresh and exchange a DM: the server still serves well-behaved users. */
export async function stillServed(srv: ServeProcess): Promise<void> {
  const alice = await srv.login('alice');
  const bob = await srv.login('bob');
  try {
    await dmRoundTrip(alice, bob, 'bob', `still served ${randomBytes(4).toString('hex')}`);
  } finally {
    alice.close();
    bob.close();
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export const MiB = 1024 * 1024;

export { spawnFlood as floodFromProcess, type FloodResult } from '../../scripts/fuzz/flood-process.js';

/** Bytes of the regular files below `dir` (0 if it does not exist). */
export function bytesUnder(dir: string): number {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    try {
      if (e.isDirectory()) total += bytesUnder(path);
      else if (e.isFile()) total += statSync(path).size;
    } catch {
      // Removed while we looked: counts as gone.
    }
  }
  return total;
}

/** Polls `check` every 100 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
