/**
 * Cluster backends for tests: the real Redis (SECURECHAT_TEST_REDIS_URL, default
 * redis://127.0.0.1:6379) and NATS with JetStream (SECURECHAT_TEST_NATS_URL, default
 * nats://127.0.0.1:4222), each run under a fresh namespace so parallel test files never meet.
 * When a service is down its tests are skipped with a loud notice, unless
 * SECURECHAT_TEST_REQUIRE_CLUSTER=1 (set by CI), in which case they fail.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatClient } from '../../src/client/client.js';
import type { SecureChatError } from '../../src/errors.js';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js';
import { generateKeyShare } from '../../src/protocol/keys.js';
import { makeTestPki, userIdentity, type TestPki } from './chat-server.js';
import { startServe, type ServeProcess } from './serve-process.js';
import { NatsBackend } from '../../src/server/cluster/nats.js';
import { RedisBackend } from '../../src/server/cluster/redis.js';

export const TEST_REDIS_URL = process.env.SECURECHAT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_NATS_URL = process.env.SECURECHAT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** A fresh 0600 cluster secret file in `dir` (48 random bytes, base64, with the newline an editor adds). */
export function writeClusterSecret(dir: string): string {
  const file = join(dir, 'cluster.secret');
  writeFileSync(file, randomBytes(48).toString('base64') + '\n', { mode: 0o600 });
  return file;
}

export function testNamespace(): string {
  return `sctest_${randomBytes(5).toString('hex')}`;
}

/** Removes what a test run left under `namespace` on the bus (Redis keys, NATS KV buckets). */
export async function disposeNamespace(url: string, namespace: string): Promise<void> {
  if (url.startsWith('nats://')) {
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

/** The URL with `?namespace=` set, as a node would be configured. */
export function withNamespace(url: string, namespace: string): string {
  const u = new URL(url);
  u.searchParams.set('namespace', namespace);
  return u.toString();
}

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port) });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(2000, () => done(false));
  });
}

/** A skip message (after a loud warning) when `url` is down, false when it answers; fails instead in CI. */
export async function clusterSkip(name: 'Redis' | 'NATS', url: string): Promise<string | false> {
  if (await reachable(url)) return false;
  const reason = `${name} at ${url} is unreachable`;
  if (process.env.SECURECHAT_TEST_REQUIRE_CLUSTER === '1') {
    test(`${name} is reachable (required: SECURECHAT_TEST_REQUIRE_CLUSTER=1)`, () => {
      throw new Error(`${reason}; run \`bash scripts/ensure-services.sh\``);
    });
    return reason;
  }
  console.warn(`\n!!!!! SKIPPING ${name} CLUSTER TESTS: ${reason}.\n!!!!! Run \`bash scripts/ensure-services.sh\` or set SECURECHAT_TEST_${name.toUpperCase()}_URL.\n`);
  return reason;
}

// --- several `securechat serve` nodes on one database and one bus ---

export const CLUSTER_PASSWORD = 'correct horse battery';

export interface ClusterHarness {
  pki: TestPki;
  work: string;
  /** Starts a node (`--node-id name`) on the shared database and `bus`; extra env for timings. */
  node(name: string, bus: string, env?: NodeJS.ProcessEnv): Promise<ServeProcess>;
  connect(node: ServeProcess, user: string): Promise<SecureChatClient>;
  /** Connects and logs in (registers the first time). */
  login(node: ServeProcess, user: string): Promise<SecureChatClient>;
  dispose(): Promise<void>;
}

export async function clusterHarness(dbUrl: string, users: string[]): Promise<ClusterHarness> {
  const pki = await makeTestPki(users);
  const work = mkdtempSync(join(tmpdir(), 'securechat-cluster-'));
  const nodes: ServeProcess[] = [];
  const clients = new Set<SecureChatClient>();
  const registered = new Set<string>();
  const connect = async (node: ServeProcess, user: string): Promise<SecureChatClient> => {
    const c = await SecureChatClient.connect({ host: '127.0.0.1', port: node.port, serverName: 'localhost', identity: userIdentity(pki, user), trust: pki.trust });
    clients.add(c);
    c.on('close', () => clients.delete(c));
    return c;
  };
  return {
    pki,
    work,
    async node(name, bus, env = {}) {
      const n = await startServe(
        ['--port', '0', '--certs', pki.dir, '--db', dbUrl, '--cluster', bus, '--node-id', name, '--log-file', join(work, `${name}.log`), '--no-generate', '--log-format', 'text'],
        { env: { SECURECHAT_CLUSTER_LEASE_MS: '4000', ...env } },
      );
      nodes.push(n);
      return n;
    },
    connect,
    async login(node, user) {
      const c = await connect(node, user);
      await c.request(registered.has(user) ? 'login' : 'register', { password: CLUSTER_PASSWORD });
      registered.add(user);
      return c;
    },
    async dispose() {
      for (const c of clients) c.close();
      for (const n of nodes) {
        if (n.child.exitCode === null && n.child.signalCode === null) await n.stop();
      }
      rmSync(work, { recursive: true, force: true });
      rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}

/** Every push of `type` a client receives, and a way to wait for one that matches. */
export function pushes<T = Record<string, unknown>>(client: SecureChatClient, type: string) {
  const got: T[] = [];
  const waiters = new Set<() => void>();
  client.onPush(type, (msg) => {
    got.push(msg as T);
    for (const w of [...waiters]) w();
  });
  return {
    got,
    /** Resolves with the first push (seen so far or later) that matches; rejects after timeoutMs. */
    waitFor(match: (m: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = got.find(match);
          if (!m) return false;
          waiters.delete(check as () => void);
          clearTimeout(timer);
          resolve(m);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check as () => void);
          reject(new Error(`no ${type} push: ${what} within ${timeoutMs} ms; got ${JSON.stringify(got).slice(0, 500)}`));
        }, timeoutMs);
        if (!check()) waiters.add(check as () => void);
      });
    },
  };
}

/** The code the session ended with (waits for the close itself). */
export async function closedWith(client: SecureChatClient, timeoutMs = 20_000): Promise<string | undefined> {
  const timer = setTimeout(() => client.emit('close', { code: 'test_timeout' } as unknown as SecureChatError), timeoutMs);
  const [err] = (await once(client, 'close')) as [SecureChatError | undefined];
  clearTimeout(timer);
  return err?.code;
}

/** Polls `probe` until it returns something truthy (generous timeout: a loaded 2-core machine). */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A valid client_hello frame, byte for byte (to replay it). */
export function clientHelloFrame(): Buffer {
  return encodeFrame(
    Buffer.from(
      JSON.stringify({ type: 'client_hello', version: 1, nonce: randomBytes(32).toString('base64'), timestamp: Date.now(), key_share: generateKeyShare().publicRaw.toString('base64') }),
    ),
  );
}

/** Sends raw bytes to a node; the first frame it answers with, as JSON (undefined if it closed). */
export async function rawFirstFrame(port: number, bytes: Buffer): Promise<Record<string, unknown> | undefined> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  const decoder = new FrameDecoder(1 << 20);
  const first = new Promise<Record<string, unknown> | undefined>((resolve) => {
    s.on('data', (chunk: Buffer) => {
      const [f] = decoder.push(chunk);
      if (f) resolve(JSON.parse(f.toString()) as Record<string, unknown>);
    });
    s.on('close', () => resolve(undefined));
    s.on('error', () => resolve(undefined));
  });
  s.write(bytes);
  const reply = await first;
  s.destroy();
  return reply;
}
