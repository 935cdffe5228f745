/**
 * The real `securechat serve` as its own process, for tests about what a hostile client can make
 * the server hold: a throwaway PKI and SQLite database, a config file with the limits under test,
 * the server's console output (human log lines) captured, and its RSS read from /proc/PID/status
 * from the outside, sampled so a test can assert the peak.
 */
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatClient } from '../../src/client/client.js';
import { ensureCertificates } from '../../src/pki/generate.js';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import type { TrustStore } from '../../src/pki/trust-store.js';
import type { LocalIdentity } from '../../src/protocol/types.js';
import { loadTrust } from '../../src/server/start.js';
import { REPO_ROOT } from './cli.js';

export const PASSWORD = 'correct horse battery staple';

export interface ServeProcess {
  port: number;
  /** The certificate directory (root_ca.pem, <user>_cert.pem, <user>_key.pem). */
  certs: string;
  pid: number;
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
}

export async function startServe(options: ServeOptions = {}): Promise<ServeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-hostile-'));
  const certs = join(dir, 'certs');
  const users = options.users ?? ['alice', 'bob', 'carol', 'mallory'];
  await ensureCertificates({ dir: certs, users, keyType: 'p256' });
  const configFile = join(dir, 'config.json');
  const dbFile = join(dir, 'chat.db');
  writeFileSync(configFile, JSON.stringify({ logLevel: 'info', ...options.config }));
  const args = ['--import', 'tsx', join(REPO_ROOT, 'src/cli/index.ts'), 'serve', '--config', configFile, '--port', '0', '--certs', certs, '--db', `sqlite:${dbFile}`, '--log-file', join(dir, 'server.log'), '--no-generate'];
  const child: ChildProcess = options.nofile
    ? spawn('bash', ['-c', `ulimit -n ${options.nofile} && exec "$0" "$@"`, process.execPath, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 60_000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${output}`)));
  });
  const pid = child.pid as number;
  let peak = rssOf(pid);
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssOf(pid));
    } catch {
      // exited
    }
  }, 20);
  sampler.unref();
  const trust = loadTrust(certs).trust;
  const identity = (user: string): LocalIdentity => ({
    chain: readPemCertificates(readFileSync(join(certs, `${user}_cert.pem`), 'utf8')),
    privateKey: readPrivateKey(readFileSync(join(certs, `${user}_key.pem`), 'utf8')),
  });
  const registered = new Set<string>();
  return {
    port,
    certs,
    pid,
    dir,
    dbFile,
    trust,
    identity,
    output: () => output,
    rss: () => rssOf(pid),
    get peakRss() {
      return peak;
    },
    resetPeak() {
      peak = rssOf(pid);
    },
    async login(user) {
      const client = await SecureChatClient.connect({ host: '127.0.0.1', port, serverName: 'localhost', identity: identity(user), trust, requestTimeoutMs: 30_000 });
      if (registered.has(user)) await client.request('login', { password: PASSWORD });
      else {
        await client.request('register', { password: PASSWORD }).catch(async () => client.request('login', { password: PASSWORD }));
        registered.add(user);
      }
      return client;
    },
    async stop() {
      clearInterval(sampler);
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One DM round trip from `from` to `to` (sent → pushed), in ms. */
export async function dmRoundTrip(from: SecureChatClient, to: SecureChatClient, toName: string, tag: string): Promise<number> {
  const started = performance.now();
  const got = new Promise<void>((resolve) => {
    // Pushes arrive as 'push' (never sharing a name with the client's lifecycle events).
    const on = (m: { type?: string; text?: string }): void => {
      if (m.type === 'message' && m.text === tag) {
        to.off('push', on);
        resolve();
      }
    };
    to.on('push', on);
  });
  await from.request('dm', { to: toName, text: tag });
  await got;
  return performance.now() - started;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export const MiB = 1024 * 1024;

export interface FloodResult {
  kind: string;
  sent: number;
  responses: number;
  tally: Record<string, number>;
  closedWith: string | null;
  error?: string;
}

/**
 * Runs scripts/fuzz/flood-worker.ts in its own process: `started` once it floods, `done` with its
 * tally (as soon as it reports: with `holdMs` its sessions stay open after that), `stop` kills it.
 */
export function floodFromProcess(args: import('../../scripts/fuzz/flood-worker.js').FloodArgs): { started: Promise<void>; done: Promise<FloodResult>; stop(): Promise<void> } {
  const worker = join(REPO_ROOT, 'scripts/fuzz/flood-worker.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', worker, JSON.stringify(args)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  let report: (r: FloodResult) => void = () => undefined;
  const done = new Promise<FloodResult>((resolve, reject) => {
    report = resolve;
    child.once('exit', () => {
      markStarted();
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as FloodResult);
      } catch {
        reject(new Error(`flood worker said: ${out}`));
      }
    });
  });
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('flooding\n')) markStarted();
    const line = out.split('\n').find((l) => l.startsWith('{') && l.endsWith('}'));
    if (line) report(JSON.parse(line) as FloodResult);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    started,
    done,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

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
