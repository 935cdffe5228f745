/**
 * Throwaway fixtures for a soak or fuzz run: a temp directory with a PKI for the given users, and a
 * database (a SQLite file in that directory, or a fresh MySQL database dropped at the end).
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { ensureCertificates } from '../../src/pki/generate.js';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import type { TrustStore } from '../../src/pki/trust-store.js';
import type { LocalIdentity } from '../../src/protocol/types.js';
import { loadTrust } from '../../src/server/start.js';

export const DEFAULT_MYSQL_URL = process.env.SECURECHAT_SOAK_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

export interface RunEnvironment {
  dir: string;
  certs: string;
  trust: TrustStore;
  dbUrl: string;
  identity(user: string): LocalIdentity;
  dispose(): Promise<void>;
}

async function createMysqlDatabase(serverUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const u = new URL(serverUrl);
  const name = `securechat_soak_${randomBytes(6).toString('hex')}`;
  const admin = () =>
    mysql.createConnection({
      host: u.hostname,
      port: Number(u.port || 3306),
      user: decodeURIComponent(u.username) || 'root',
      password: decodeURIComponent(u.password),
      connectTimeout: 5000,
    });
  const c = await admin();
  try {
    await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await c.end();
  }
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      // For an investigation: the database of a failed run, left in place and named.
      if (process.env.SECURECHAT_SOAK_KEEP_DB === '1') {
        console.error(`soak: database ${name} kept (SECURECHAT_SOAK_KEEP_DB=1); drop it yourself`);
        return;
      }
      const d = await admin();
      try {
        await d.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await d.end();
      }
    },
  };
}

export async function createEnvironment(opts: { users: string[]; db: 'sqlite' | 'mysql'; mysqlUrl?: string }): Promise<RunEnvironment> {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-soak-'));
  const certs = join(dir, 'certs');
  let dropDb: (() => Promise<void>) | undefined;
  try {
    await ensureCertificates({ dir: certs, users: opts.users, keyType: 'p256' });
    let dbUrl = `sqlite:${join(dir, 'chat.db')}`;
    if (opts.db === 'mysql') {
      const db = await createMysqlDatabase(opts.mysqlUrl ?? DEFAULT_MYSQL_URL);
      dbUrl = db.url;
      dropDb = db.drop;
    }
    const trust = loadTrust(certs).trust;
    return {
      dir,
      certs,
      trust,
      dbUrl,
      identity(user) {
        return {
          chain: readPemCertificates(readFileSync(join(certs, `${user}_cert.pem`), 'utf8')),
          privateKey: readPrivateKey(readFileSync(join(certs, `${user}_key.pem`), 'utf8')),
        };
      },
      async dispose() {
        try {
          await dropDb?.();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await dropDb?.().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
