/**
 * A fresh MySQL/MariaDB database for one bench phase (`securechat_bench_<random>` on the server of
 * `--mysql URL`), dropped afterwards: every phase and every run writes into its own database, so
 * nothing an earlier phase (or an aborted run) left behind is ever read.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

export interface BenchDatabase {
  /** The server URL with this database as its path. */
  url: string;
  /** "host:port", for notes (never the password). */
  server: string;
  version: string;
  drop(): Promise<void>;
}

/** Creates the database, or rejects with why the server cannot be used (unreachable, refused). */
export async function freshBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const server = new URL(serverUrl);
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({
      host: server.hostname,
      port: Number(server.port || 3306),
      user: decodeURIComponent(server.username) || 'root',
      password: decodeURIComponent(server.password),
      connectTimeout: 3000,
    });
  } catch (err) {
    throw new Error(`MySQL at ${server.host} unreachable (${(err as Error).message})`, { cause: err });
  }
  const name = `securechat_bench_${randomBytes(6).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } catch (err) {
    await admin.end();
    throw err;
  }
  const [[row]] = (await admin.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]];
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    server: server.host,
    version: row.v,
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await admin.end();
      }
    },
  };
}
