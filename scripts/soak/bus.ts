/**
 * The cluster bus of a soak run. Either the soak's own `redis-server` / `nats-server -js` on a free
 * port in the run's temp directory (which it may SIGKILL and start again: `--restart-bus`), or a
 * bus the operator names (`redis://host:port`), used under a fresh `?namespace=` that is removed at
 * the end. A bus the soak did not start is never stopped or restarted: other work may share it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { NatsBackend } from '../../src/server/cluster/nats.js';
import { RedisBackend } from '../../src/server/cluster/redis.js';

export type BusKind = 'redis' | 'nats';

export interface SoakBus {
  kind: BusKind;
  /** What the nodes get as --cluster (with the run's namespace). */
  url: string;
  /** True when the soak started the server itself (and so may kill and restart it). */
  own: boolean;
  describe(): string;
  /** SIGKILL the soak's own server (a crash: Redis keeps nothing, NATS keeps its JetStream store). */
  kill(): Promise<void>;
  /** Starts the soak's own server again on the same port and directory. */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/** `redis`, `nats`, `redis://host:port` or `nats://host:port` → the kind, and the URL when one was named. */
export function parseBusSpec(spec: string): { kind: BusKind; url?: string } {
  if (spec === 'redis' || spec === 'nats') return { kind: spec };
  const m = /^(redis|nats):\/\/[^/?#]+/.exec(spec);
  if (!m) throw new Error(`--cluster must be redis, nats, redis://host:port or nats://host:port, got ${JSON.stringify(spec)}`);
  return { kind: m[1] as BusKind, url: spec };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const READY: Record<BusKind, RegExp> = { redis: /Ready to accept connections/, nats: /Server is ready/ };

/** Children still running when the harness process exits (a crash) are killed with it. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

function startServer(kind: BusKind, port: number, dir: string): Promise<ChildProcess> {
  const child =
    kind === 'redis'
      ? spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} on port ${port} not ready within 20 s:\n${out}`));
    }, 20_000);
    const onData = (d: Buffer): void => {
      out = (out + d.toString()).slice(-4000);
      if (READY[kind].test(out)) {
        clearTimeout(timer);
        // Keep draining, so a chatty server never blocks on a full pipe.
        child.stdout?.removeListener('data', onData);
        child.stderr?.removeListener('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${kind === 'redis' ? 'redis-server' : 'nats-server'}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${kind} on port ${port} exited before ready (code ${code}, signal ${signal}):\n${out}`));
    });
  });
}

async function killChild(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

async function dropNamespace(kind: BusKind, url: string, namespace: string): Promise<void> {
  if (kind === 'nats') {
    const nats = await NatsBackend.open(url, { namespace });
    await nats.destroy();
    await nats.close();
    return;
  }
  const redis = new RedisBackend(url, { namespace });
  await redis.connect();
  const keys = await redis.cmd.keys(`${namespace}:*`);
  if (keys.length > 0) await redis.cmd.del(...keys);
  await redis.close();
}

/** `own`: start a server in `dir` (any URL in the spec only picks the kind); otherwise use the named one. */
export async function openBus(spec: string, opts: { dir: string; own: boolean }): Promise<SoakBus> {
  const { kind, url: named } = parseBusSpec(spec);
  const namespace = `soak_${randomBytes(5).toString('hex')}`;
  if (!opts.own && named) {
    const u = new URL(named);
    u.searchParams.set('namespace', namespace);
    return {
      kind,
      url: u.toString(),
      own: false,
      describe: () => `${named} (namespace ${namespace}, removed at the end)`,
      kill: () => Promise.reject(new Error('the soak never kills a bus it did not start')),
      start: () => Promise.reject(new Error('the soak never restarts a bus it did not start')),
      dispose: () => dropNamespace(kind, named, namespace).catch(() => undefined),
    };
  }
  mkdirSync(opts.dir, { recursive: true });
  let child: ChildProcess | null = null;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      child = await startServer(kind, port, opts.dir);
      break;
    } catch (err) {
      // Another process took the port between freePort() and the server's bind: try another.
      if (attempt >= 2) throw err;
    }
  }
  const url = `${kind}://127.0.0.1:${port}/?namespace=${namespace}`;
  return {
    kind,
    url,
    own: true,
    describe: () => `own ${kind === 'redis' ? 'redis-server' : 'nats-server -js'} on 127.0.0.1:${port}`,
    async kill() {
      await killChild(child);
      child = null;
    },
    async start() {
      child = await startServer(kind, port, opts.dir);
    },
    async dispose() {
      await killChild(child);
      child = null;
    },
  };
}
