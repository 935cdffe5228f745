/**
 * End-to-end harness: a throwaway PKI, a real chat server on 127.0.0.1 port 0 over real storage
 * (SQLite file, or a fresh MariaDB database), and real clients that dial it.
 */
import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatClient } from '../../src/client/client.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { ensureCertificates } from '../../src/pki/generate.js';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { createChatServer, type ChatServerOptions } from '../../src/server/app.js';
import type { SecureChatServer } from '../../src/server/server.js';
import type { ChatServices } from '../../src/server/services.js';
import { loadServerIdentity, loadTrust } from '../../src/server/start.js';
import { openStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/types.js';
import { createTestDatabase, type TestDatabase } from './mysql.js';

export const TEST_USERS = ['alice', 'bob', 'carol', 'dave', 'eve'];
export const TEST_PASSWORD = 'correct horse battery';

export interface TestPki {
  dir: string;
  rootPem: string;
  trust: TrustStore;
}

/** One PKI per test file is plenty: certificates are cheap (P-256) but not free. */
export async function makeTestPki(users: string[] = TEST_USERS): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-pki-'));
  await ensureCertificates({ dir, users });
  return { dir, rootPem: readFileSync(join(dir, 'root_ca.pem'), 'utf8'), trust: loadTrust(dir).trust };
}

export function userIdentity(pki: TestPki, user: string) {
  return {
    chain: readPemCertificates(readFileSync(join(pki.dir, `${user}_cert.pem`), 'utf8')),
    privateKey: readPrivateKey(readFileSync(join(pki.dir, `${user}_key.pem`), 'utf8')),
  };
}

/** A SecureChatClient for `user` dialling 127.0.0.1:`port` (the server's certificate names localhost). */
export function dialClient(port: number, pki: TestPki, user: string): Promise<SecureChatClient> {
  return SecureChatClient.connect({ host: '127.0.0.1', port, serverName: 'localhost', identity: userIdentity(pki, user), trust: pki.trust });
}

export interface StartOptions extends Partial<Pick<ChatServerOptions, 'limits' | 'chat' | 'delivery' | 'cluster'>> {
  backend?: 'sqlite' | 'mysql';
  pki?: TestPki;
  log?: Logger;
  /** Reuse an existing database (e.g. to "restart" the server on the same data). */
  dbUrl?: string;
}

export interface TestChatServer {
  port: number;
  server: SecureChatServer<ChatServices>;
  storage: Storage;
  pki: TestPki;
  dbUrl: string;
  connect(user: string): Promise<SecureChatClient>;
  /** Connects and registers (first time) or logs in. */
  login(user: string, password?: string): Promise<SecureChatClient>;
  /** Stops the server and closes storage, keeping the data (for restart tests). */
  stop(): Promise<void>;
  /** stop() plus removal of the data (drops the MySQL database, deletes the temp dirs). */
  close(): Promise<void>;
}

export async function startChatServer(options: StartOptions = {}): Promise<TestChatServer> {
  const pki = options.pki ?? (await makeTestPki());
  const ownsPki = !options.pki;
  let mysqlDb: TestDatabase | undefined;
  let dataDir: string | undefined;
  let dbUrl = options.dbUrl;
  if (!dbUrl) {
    if (options.backend === 'mysql') {
      mysqlDb = await createTestDatabase();
      dbUrl = mysqlDb.url;
    } else {
      dataDir = mkdtempSync(join(tmpdir(), 'securechat-data-'));
      dbUrl = `sqlite:${join(dataDir, 'chat.db')}`;
    }
  }
  const log = options.log ?? silentLogger();
  const storage = await openStorage(dbUrl, { log });
  const server = createChatServer({
    identity: loadServerIdentity(pki.dir),
    trust: pki.trust,
    crlFile: join(pki.dir, 'crl.pem'),
    storage,
    log,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.chat ? { chat: options.chat } : {}),
    ...(options.delivery ? { delivery: options.delivery } : {}),
    ...(options.cluster ? { cluster: options.cluster } : {}),
  });
  await server.services.cluster?.start();
  const { port } = await server.listen(0, '127.0.0.1');
  const clients = new Set<SecureChatClient>();
  const registered = new Set<string>();

  const connect = async (user: string): Promise<SecureChatClient> => {
    const client = await dialClient(port, pki, user);
    clients.add(client);
    client.on('close', () => clients.delete(client));
    return client;
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const c of clients) c.close();
    await server.close();
    await server.services.cluster?.stop();
    await storage.close();
  };
  return {
    port,
    server,
    storage,
    pki,
    dbUrl,
    connect,
    async login(user, password = TEST_PASSWORD) {
      const client = await connect(user);
      const known = registered.has(user) || (await storage.getUserByName(user)) !== null;
      await client.request(known ? 'login' : 'register', { password });
      registered.add(user);
      return client;
    },
    stop,
    async close() {
      await stop();
      await mysqlDb?.dispose();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      if (ownsPki) rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the next `type` push the client receives (with its binary data). */
export function nextPush<T = Record<string, unknown>>(client: SecureChatClient, type: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" push within ${timeoutMs} ms`)), timeoutMs);
    const off = client.onPush(type, (msg) => {
      off();
      clearTimeout(timer);
      resolve(msg as T);
    });
  });
}
