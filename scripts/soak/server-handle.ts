/**
 * Parent side of server-process.ts: forks it, waits for `ready`, tracks its RSS, and can kill it
 * (SIGKILL: a crash) or stop it (SIGTERM: graceful). The child runs TypeScript through tsx.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerProcessArgs, ServerProcessMessage } from './server-process.js';

const SCRIPT = fileURLToPath(new URL('./server-process.ts', import.meta.url));

export interface MemoryStats {
  startRss: number;
  peakRss: number;
  lastRss: number;
  samples: number;
}

/** What the soak needs of any server process it runs (this fork, or a `securechat serve` node). */
export interface ProcessHandle {
  port: number;
  pid: number;
  readonly memory: MemoryStats;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
  /** SIGKILL: the server gets no chance to flush or close anything. */
  kill(): Promise<void>;
  /** SIGTERM: graceful stop (close sessions, finish writes, close the database). */
  stop(): Promise<void>;
}

export interface ServerHandle extends ProcessHandle {
  /** Resolves with a fresh stats sample (the child sends one every statsMs). */
  nextStats(): Promise<Extract<ServerProcessMessage, { type: 'stats' }>>;
}

export async function spawnServer(args: ServerProcessArgs, readyTimeoutMs = 60_000): Promise<ServerHandle> {
  const child: ChildProcess = fork(SCRIPT, [JSON.stringify(args)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      resolve({ code, signal });
    });
  });
  const memory: MemoryStats = { startRss: 0, peakRss: 0, lastRss: 0, samples: 0 };
  const statsWaiters: Array<(m: Extract<ServerProcessMessage, { type: 'stats' }>) => void> = [];
  child.on('message', (raw) => {
    const msg = raw as ServerProcessMessage;
    if (msg.type !== 'stats') return;
    if (memory.samples === 0) memory.startRss = msg.rss;
    memory.samples++;
    memory.lastRss = msg.rss;
    memory.peakRss = Math.max(memory.peakRss, msg.rss);
    for (const w of statsWaiters.splice(0)) w(msg);
  });
  const ready = await new Promise<Extract<ServerProcessMessage, { type: 'ready' }>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server process not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    const onMessage = (raw: unknown): void => {
      const msg = raw as ServerProcessMessage;
      if (msg.type === 'ready') {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(msg);
      } else if (msg.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`server process failed to start: ${msg.code}: ${msg.message}`));
      }
    };
    child.on('message', onMessage);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server process exited before ready (code ${code}, signal ${signal})`));
    });
  });
  return {
    port: ready.port,
    pid: ready.pid,
    memory,
    exited,
    get alive() {
      return alive;
    },
    nextStats() {
      return new Promise((resolve) => statsWaiters.push(resolve));
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
