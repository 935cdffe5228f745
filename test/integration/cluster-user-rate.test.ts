/**
 * Issue 14: the per-user request budget is one budget cluster-wide (user-rate.ts, cluster/node.ts):
 * two real `securechat serve` nodes on MariaDB + Redis, then NATS, with a small budget (1 token/s,
 * burst 40). A user who spends the budget on node A is refused (rate_limited, reason user_rate) on
 * node B long before B's own 40 would run out — B learns what A spent within a sync interval.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SecureChatClient } from '../../src/client/client.js';
import { SecureChatError } from '../../src/errors.js';
import { clusterHarness, clusterSkip, disposeNamespace, TEST_NATS_URL, TEST_REDIS_URL, testNamespace, withNamespace, type ClusterHarness } from '../helpers/cluster.js';
import { createTestDatabase, mysqlSkip, type TestDatabase } from '../helpers/mysql.js';
import type { ServeProcess } from '../helpers/serve-process.js';

const noMysql = await mysqlSkip();
const BURST = 40;

/** Sends `who` until refused; the number accepted and the refusal. */
async function spendUntilRefused(c: SecureChatClient, pauseMs: number, max = 200): Promise<{ accepted: number; refusal: SecureChatError }> {
  for (let accepted = 0; accepted < max; accepted++) {
    try {
      await c.request('who');
    } catch (err) {
      if (err instanceof SecureChatError && err.code === 'rate_limited') return { accepted, refusal: err };
      throw err;
    }
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  throw new Error(`never refused after ${max} requests`);
}

function rateScenario(busName: 'Redis' | 'NATS', busUrl: string, skip: string | false): void {
  describe(`per-user request budget across two nodes (MariaDB + ${busName})`, { skip, timeout: 180_000 }, () => {
    let db: TestDatabase;
    let h: ClusterHarness;
    let a: ServeProcess;
    let b: ServeProcess;
    let namespace: string;

    before(async () => {
      db = await createTestDatabase();
      h = await clusterHarness(db.url, ['alice']);
      namespace = testNamespace();
      const bus = withNamespace(busUrl, namespace);
      const env = { SECURECHAT_USER_REQUESTS_PER_SECOND: '1', SECURECHAT_USER_REQUEST_BURST: String(BURST) };
      a = await h.node('A', bus, env);
      b = await h.node('B', bus, env);
    });
    after(async () => {
      await h?.dispose();
      await db?.dispose();
      if (namespace) await disposeNamespace(busUrl, namespace);
    });

    test('the budget spent on node A is missing on node B', async () => {
      const onA = await h.login(a, 'alice');
      const onB = await h.login(b, 'alice');
      const spentOnA = await spendUntilRefused(onA, 0);
      assert.ok(spentOnA.accepted >= BURST, `node A accepts the burst (${spentOnA.accepted})`);
      assert.equal(spentOnA.refusal.reason, 'user_rate', 'refused by the account budget, not the session one');
      // One request per 100 ms: alone, node B would accept its own 40 over about 4 s.
      const onBAfter = await spendUntilRefused(onB, 100);
      assert.ok(onBAfter.accepted < BURST / 2, `node B refuses early: it accepted ${onBAfter.accepted}, not its own ${BURST}`);
      assert.equal(onBAfter.refusal.reason, 'user_rate');
      assert.ok(Number(onBAfter.refusal.details?.retryAfterMs) > 0);
      onA.close();
      onB.close();
    });
  });
}

rateScenario('Redis', TEST_REDIS_URL, noMysql || (await clusterSkip('Redis', TEST_REDIS_URL)));
rateScenario('NATS', TEST_NATS_URL, noMysql || (await clusterSkip('NATS', TEST_NATS_URL)));
