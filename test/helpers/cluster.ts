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

export const TEST_REDIS_URL = process.env.SECURECHAT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_NATS_URL = process.env.SECURECHAT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export function testNamespace(): string {
  return `sctest_${randomBytes(5).toString('hex')}`;
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
