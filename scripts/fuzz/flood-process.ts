/**
 * Starts scripts/fuzz/flood-worker.ts as its own process (the attack tests and
 * `npm run fuzz -- --mode hostile`): a hostile client whose CPU is not the measuring process's.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FloodArgs } from './flood-worker.js';

const WORKER = fileURLToPath(new URL('./flood-worker.ts', import.meta.url));
/** `--import tsx` resolves from the working directory: the repository's. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

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
export function spawnFlood(args: FloodArgs): { started: Promise<void>; done: Promise<FloodResult>; stop(): Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(args)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
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
