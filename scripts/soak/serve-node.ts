/**
 * One cluster node of a soak run: a real `securechat serve --cluster URL --node-id NAME --db mysql://…`
 * process (the shipped CLI through tsx), not the in-process server of server-process.ts, so the run
 * covers what an operator starts. It is ready when it logs `listening on HOST:PORT`; its RSS is read
 * from /proc every statsMs (Linux; zero elsewhere). Same handle shape as server-handle.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ProcessHandle, MemoryStats } from './server-handle.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Output kept for an error message when a node fails to start (the full log is in logFile). */
const TAIL_CHARS = 4000;

/** Nodes still running when the harness process exits (a crash) are killed with it. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export interface NodeArgs {
  name: string;
  certs: string;
  db: string;
  cluster: string;
  port: number;
  logFile: string;
  statsMs: number;
  /** Server config keys as SECURECHAT_* environment variables (limits, lease). */
  env?: Record<string, string>;
}

export interface NodeHandle extends ProcessHandle {
  name: string;
}

function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export async function spawnNode(args: NodeArgs, readyTimeoutMs = 90_000): Promise<NodeHandle> {
  const argv = [
    '--import', 'tsx', ENTRY, 'serve',
    '--host', '127.0.0.1', '--port', String(args.port), '--certs', args.certs, '--db', args.db,
    '--cluster', args.cluster, '--node-id', args.name, '--log-file', args.logFile,
    // info: the `listening on` line is the readiness signal; cluster bus down/back lines land in the log too.
    '--log-level', process.env.SECURECHAT_SOAK_LOG_LEVEL ?? 'info', '--log-format', 'json', '--no-generate',
  ];
  const child = spawn(process.execPath, argv, { cwd: REPO_ROOT, env: { ...process.env, ...args.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      running.delete(child);
      resolve({ code, signal });
    });
  });
  let tail = '';
  let onOutput: (() => void) | null = null;
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString()).slice(-TAIL_CHARS);
    onOutput?.();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.name} not listening within ${readyTimeoutMs} ms:\n${tail}`));
    }, readyTimeoutMs);
    onOutput = () => {
      // Lazy, followed by a non-digit: the JSON line goes on with more ":<digits>" (the timestamp).
      const m = /listening on [^\s"]*?:(\d+)(?=\D)/.exec(tail);
      if (!m) return;
      clearTimeout(timer);
      onOutput = null;
      resolve(Number(m[1]));
    };
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`node ${args.name} exited before listening (code ${code}, signal ${signal}):\n${tail}`));
    });
  });
  const pid = child.pid ?? 0;
  const memory: MemoryStats = { startRss: 0, peakRss: 0, lastRss: 0, samples: 0 };
  const sample = (): void => {
    const rss = rssOf(pid);
    if (rss === 0) return;
    if (memory.samples === 0) memory.startRss = rss;
    memory.samples++;
    memory.lastRss = rss;
    memory.peakRss = Math.max(memory.peakRss, rss);
  };
  sample();
  const stats = setInterval(sample, args.statsMs);
  stats.unref();
  void exited.then(() => clearInterval(stats));
  return {
    name: args.name,
    port,
    pid,
    memory,
    exited,
    get alive() {
      return alive;
    },
    async kill() {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (alive) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
