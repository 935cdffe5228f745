/**
 * The load generator's handle on a server process: fork scripts/bench/server-proc.ts, talk to it
 * over IPC (request/response by id), read its CPU and memory between phases. The server runs in
 * its own process so that its `process.cpuUsage()` counts server work only.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type ServerKind = 'chat' | 'tls' | 'storage';

export interface Mark {
  /** process.cpuUsage() in the server process, µs. */
  user: number;
  system: number;
  rss: number;
  heapUsed: number;
  external: number;
  sessions: number;
}

export interface CpuDelta {
  cpuUs: number;
  rssDelta: number;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

const SERVER_PROC = fileURLToPath(new URL('./server-proc.ts', import.meta.url));

export class ServerHandle {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;

  private constructor(
    readonly kind: ServerKind,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (raw) => {
      const reply = raw as Reply;
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (reply.ok) w.resolve(reply.result);
      else w.reject(new Error(`${kind} server: ${reply.error ?? 'failed'}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`${kind} server exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  /** Forks a server process; `profileDir` runs it under `node --cpu-prof`. */
  static spawn(kind: ServerKind, options: { profileDir?: string; aead?: string } = {}): ServerHandle {
    const execArgv = ['--import', 'tsx', '--expose-gc'];
    if (options.profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
    const args = options.aead ? [kind, `--aead=${options.aead}`] : [kind];
    const child = fork(SERVER_PROC, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new ServerHandle(kind, child);
  }

  call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.kind} server is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args });
    });
  }

  mark(gc = false): Promise<Mark> {
    return this.call<Mark>('mark', { gc });
  }

  /** Runs `work` and returns its result with the server CPU it cost. */
  async measure<T>(work: () => Promise<T>): Promise<{ result: T; cpuUs: number; before: Mark; after: Mark }> {
    const before = await this.mark();
    const result = await work();
    const after = await this.mark();
    return { result, cpuUs: after.user + after.system - before.user - before.system, before, after };
  }

  /** Runs `work` and returns its result with the CPU it cost all of `servers` together (the nodes of a cluster). */
  static async measureAll<T>(servers: readonly ServerHandle[], work: () => Promise<T>): Promise<{ result: T; cpuUs: number; perServerUs: number[] }> {
    const cpu = (m: Mark): number => m.user + m.system;
    const before = await Promise.all(servers.map((s) => s.mark()));
    const result = await work();
    const after = await Promise.all(servers.map((s) => s.mark()));
    const perServerUs = after.map((a, i) => cpu(a) - cpu(before[i]));
    return { result, cpuUs: perServerUs.reduce((sum, v) => sum + v, 0), perServerUs };
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    await this.call('stop').catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
