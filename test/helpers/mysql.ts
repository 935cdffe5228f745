/**
 * A fresh MySQL/MariaDB database per test file: `securechat_test_<random>` on
 * SECURECHAT_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test), dropped afterwards.
 * When the server is unreachable the MySQL tests are skipped with a loud notice, unless
 * SECURECHAT_TEST_REQUIRE_MYSQL=1 (set by CI), in which case they fail.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import mysql from 'mysql2/promise';

export const TEST_MYSQL_URL = process.env.SECURECHAT_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

function serverUrl(): URL {
  const u = new URL(TEST_MYSQL_URL);
  u.pathname = '/';
  return u;
}

/** An admin connection to the server (no database selected), for CREATE/DROP/KILL. */
export async function adminConnection(): Promise<mysql.Connection> {
  const u = serverUrl();
  return mysql.createConnection({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password),
    connectTimeout: 3000,
    multipleStatements: false,
  });
}

let reachability: Promise<string | null> | undefined;

/** null when reachable, else why not. */
export function mysqlUnreachableReason(): Promise<string | null> {
  reachability ??= (async () => {
    try {
      const c = await adminConnection();
      await c.end();
      return null;
    } catch (err) {
      return `MySQL at ${TEST_MYSQL_URL.replace(/:[^:@/]*@/, ':***@')} is unreachable (${(err as Error).message})`;
    }
  })();
  return reachability;
}

/**
 * Decides whether MySQL tests run: returns a skip message (and warns loudly) when they cannot,
 * or false when they can. In CI (SECURECHAT_TEST_REQUIRE_MYSQL=1) an unreachable server registers a
 * failing test instead of skipping.
 */
export async function mysqlSkip(): Promise<string | false> {
  const reason = await mysqlUnreachableReason();
  if (reason === null) return false;
  if (process.env.SECURECHAT_TEST_REQUIRE_MYSQL === '1') {
    test('MySQL is reachable (required: SECURECHAT_TEST_REQUIRE_MYSQL=1)', () => {
      throw new Error(`${reason}; run \`bash scripts/ensure-mariadb.sh\``);
    });
    return reason;
  }
  console.warn(
    `\n!!!!! SKIPPING MySQL TESTS: ${reason}.\n!!!!! Run \`bash scripts/ensure-mariadb.sh\` or set SECURECHAT_TEST_MYSQL_URL.\n`,
  );
  return reason;
}

export interface TestDatabase {
  url: string;
  name: string;
  dispose(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `securechat_test_${randomBytes(6).toString('hex')}`;
  const admin = await adminConnection();
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await admin.end();
  }
  const u = serverUrl();
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    async dispose() {
      const c = await adminConnection();
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}
