/**
 * `securechat serve` as a real child process, for tests of what only the shipped process does
 * (signals, operator CLI against a running server, file modes, start-up errors).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT } from './cli.js';

export interface ServeProcess {
  child: ChildProcess;
  port: number;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** Resolves when `pattern` appears in the output after offset `from` (default 0: already there counts). */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

export interface ServeOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Spawn options for the child: umask tests run it through `sh -c 'umask 022; exec …'`. */
  umask?: string;
  timeoutMs?: number;
}

const ENTRY = join(REPO_ROOT, 'src/cli/index.ts');

/** Spawns `securechat serve ARGS` and resolves once it listens (or rejects with its output). */
export async function startServe(args: string[], opts: ServeOptions = {}): Promise<ServeProcess> {
  const argv = ['--import', 'tsx', ENTRY, 'serve', ...args];
  const child = opts.umask
    ? spawn('/bin/sh', ['-c', `umask ${opts.umask} && exec "$0" "$@"`, process.execPath, ...argv], {
        cwd: opts.cwd ?? REPO_ROOT,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, argv, { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer): void => {
    output += d.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  child.once('exit', () => {
    exited = true;
    for (const w of [...waiters]) w();
  });
  const waitFor = (pattern: RegExp, timeoutMs = 60_000, from = 0): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = pattern.exec(output.slice(from));
        if (m) {
          done();
          resolve(m);
        } else if (exited) {
          done();
          reject(new Error(`serve exited before ${String(pattern)}:\n${output}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${String(pattern)} within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const m = await waitFor(/listening on (?:\[[^\]]+\]|[^\s":]+):(\d+)/, opts.timeoutMs ?? 60_000);
  return {
    child,
    port: Number(m[1]),
    output: () => output,
    waitFor,
    async stop() {
      if (exited) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}
