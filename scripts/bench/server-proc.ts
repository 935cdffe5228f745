/**
 * A benchmark server process (forked by server-handle.ts). argv[2] picks what it runs:
 *   chat     our SecureChat server (createChatServer) on SQLite in a temp dir, limits raised;
 *            with {ws: true} also its WebSocket port (server/transports/ws.ts), plain HTTP
 *            as behind a TLS proxy with {wsPlain: true}; with {dbUrl, cluster: {url, namespace,
 *            nodeId}} a node of a cluster on a shared MySQL database and bus (cluster.ts)
 *   tls      the Node TLS baseline (tls-server.ts)
 *   storage  no server: runs the durable-write benchmark against a given database URL
 * It answers IPC requests {id, cmd, args} with {id, ok, result|error}; `mark` reports
 * process.cpuUsage() and memory so the parent can charge each phase its server CPU.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { hashPassword } from '../../src/auth/password.js';
import { silentLogger } from '../../src/log.js';
import { selectAeadImplementation, type AeadImplementation } from '../../src/protocol/aead.js';
import { createChatServer } from '../../src/server/app.js';
import { openClusterBackend } from '../../src/server/cluster/index.js';
import type { ServerLimits } from '../../src/server/server.js';
import { loadServerIdentity, loadTrust } from '../../src/server/start.js';
import { listenWebSocket } from '../../src/server/transports/ws.js';
import { openStorage, type SqlStorage } from '../../src/storage/index.js';
import { benchWrites } from './storage-bench.js';
import { startTlsServer, type TlsBaselineServer } from './tls-server.js';

/** What the bench raises above the defaults, and says so in its output. */
export const BENCH_LIMITS: Partial<ServerLimits> = {
  maxHandshakes: 100_000,
  maxHandshakesPerIp: 100_000,
  // The idle phase opens 10,000 sessions with one certificate from one address.
  maxSessions: 100_000,
  maxSessionsPerIp: 100_000,
  maxSessionsPerCertificate: 100_000,
  maxSessionsPerUser: 100_000,
  // Pre-login too: the one-way phase sends on a channel that never logs in, and its closing ping
  // must be answered, not dropped by the 5/s pre-login bucket.
  rate: { requestsPerSecond: 1e9, burst: 1e9, maxInflightBytes: 64 * 1024 * 1024, preLoginRequestsPerSecond: 1e9, preLoginBurst: 1e9 },
  userRate: { requestsPerSecond: 0, burst: 0 },
};

/** The bench logs its 101 users in from one address, ten at a time (logins are not measured). */
export const BENCH_PASSWORD_WORK = { maxPerAddress: 1000 };

type Handler = (args: Record<string, unknown>) => Promise<unknown>;

const kind = process.argv[2];
// --aead=node|native (from the bench's --aead): which record AEAD this server uses.
const aeadArg = process.argv.find((a) => a.startsWith('--aead='))?.slice('--aead='.length);
if (aeadArg) selectAeadImplementation(aeadArg as AeadImplementation);
const cleanups: (() => Promise<void> | void)[] = [];
let sessionCount: () => number = () => 0;

const handlers: Record<string, Handler> = {
  async mark(args) {
    if (args['gc'] === true && typeof global.gc === 'function') {
      global.gc();
      global.gc();
    }
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    return { user: cpu.user, system: cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, sessions: sessionCount() };
  },
  /** A heap snapshot of this server now (bench --heap-snapshot DIR: with the idle sessions open). */
  async heapSnapshot(args) {
    if (typeof global.gc === 'function') global.gc();
    return writeHeapSnapshot(join(String(args['dir']), `${kind}-${process.pid}-${String(args['label'] ?? 'now')}.heapsnapshot`));
  },
  async stop() {
    for (const c of cleanups.reverse()) await c();
    setImmediate(() => process.exit(0));
    return null;
  },
};

if (kind === 'chat') {
  handlers['start'] = async (args) => {
    const certsDir = String(args['certsDir']);
    const users = args['users'] as string[];
    const log = silentLogger();
    // SQLite in a temp dir by default; {dbUrl} for a node of a cluster on a shared MySQL database.
    const dataDir = typeof args['dbUrl'] === 'string' ? null : mkdtempSync(join(tmpdir(), 'securechat-bench-data-'));
    const storage = await openStorage(dataDir ? `sqlite:${join(dataDir, 'chat.db')}` : String(args['dbUrl']), { log });
    // Accounts are provisioned directly (one scrypt hash shared by all) so setup does not pay a
    // full-cost register per user; logins still verify the password at full cost. On a shared
    // database only the users not there yet (the first node, or an earlier phase, made the others).
    const passwordHash = await hashPassword(String(args['password']));
    for (const username of users) if ((await storage.getUserByName(username)) === null) await storage.createUser({ username, passwordHash });
    const clusterArg = args['cluster'] as { url: string; namespace: string; nodeId: string } | undefined;
    const { trust, crlFile } = loadTrust(certsDir);
    const server = createChatServer({
      identity: loadServerIdentity(certsDir),
      trust,
      ...(crlFile ? { crlFile } : {}),
      storage,
      log,
      limits: BENCH_LIMITS,
      passwordWork: BENCH_PASSWORD_WORK,
      // As `serve --cluster URL --node-id NAME` does, under the bench run's own bus namespace.
      ...(clusterArg ? { cluster: { backend: await openClusterBackend(clusterArg.url, { namespace: clusterArg.namespace }), nodeId: clusterArg.nodeId } } : {}),
    });
    await server.services.cluster?.start();
    const { port } = await server.listen(0, '127.0.0.1');
    // The WebSocket port of `serve --ws-port` (HTTPS with the server certificate), on the same server.
    const ws = args['ws'] === true
      ? await listenWebSocket(server, { host: '127.0.0.1', port: 0, maxFrameSize: 1024 * 1024, certsDir, behindProxy: args['wsPlain'] === true, webRoot: null, log })
      : undefined;
    sessionCount = () => server.sessions.size;
    cleanups.push(async () => {
      await ws?.close();
      await server.close();
      await server.services.cluster?.stop();
      await storage.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });
    return { port, wsPort: ws?.port, limits: { ...BENCH_LIMITS, passwordWork: BENCH_PASSWORD_WORK } };
  };
} else if (kind === 'tls') {
  handlers['start'] = async (args) => {
    const tlsServer: TlsBaselineServer = await startTlsServer(String(args['certsDir']));
    sessionCount = () => tlsServer.connections();
    cleanups.push(() => tlsServer.close());
    return { port: tlsServer.port };
  };
} else if (kind === 'storage') {
  handlers['writes'] = async (args) => {
    const storage: SqlStorage = await openStorage(String(args['url']), { log: silentLogger() });
    try {
      return await benchWrites(storage, {
        seconds: Number(args['seconds']),
        baselineSeconds: Number(args['baselineSeconds']),
        concurrency: Number(args['concurrency']),
      });
    } finally {
      await storage.close();
    }
  };
} else {
  console.error(`server-proc: unknown kind "${kind}"`);
  process.exit(2);
}

process.on('message', (raw) => {
  const { id, cmd, args } = raw as { id: number; cmd: string; args: Record<string, unknown> };
  const handler = handlers[cmd];
  if (!handler) {
    process.send?.({ id, ok: false, error: `unknown command ${cmd}` });
    return;
  }
  handler(args ?? {}).then(
    (result) => process.send?.({ id, ok: true, result }),
    (err: unknown) => process.send?.({ id, ok: false, error: String((err as Error)?.stack ?? err) }),
  );
});
// The parent going away (Ctrl-C, crash) must not leave a server behind.
process.on('disconnect', () => process.exit(0));
