/**
 * The short soak that runs in `npm test`: 10 clients for ~5 s against a server process on SQLite,
 * SIGKILLed and restarted midway. Every message the server acknowledged must reach every recipient
 * exactly once (the full run is `npm run soak`, docs/RELIABILITY.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from '../../scripts/soak/harness.js';

test('soak: 10 clients across a SIGKILL and restart on SQLite lose nothing and duplicate nothing', async () => {
  const r = await runSoak({ clients: 10, seconds: 5, db: 'sqlite', ratePerClient: 4, kills: 1, drainSeconds: 20, seed: 7 });
  const why = JSON.stringify({ failures: r.failures, anomalies: r.anomalies.slice(0, 5), unacknowledged: r.unacknowledgedByCode });
  assert.equal(r.serverKills, 1);
  assert.ok(r.reconnects >= 10, `every client logs in again after the kill (${r.reconnects} reconnects)`);
  assert.ok(r.acknowledged > 50, `a real amount of traffic (${r.acknowledged} acknowledged)`);
  assert.ok(r.expectedDeliveries > r.acknowledged, 'group messages fan out to several recipients');
  assert.equal(r.delivered, r.expectedDeliveries, why);
  assert.equal(r.lost, 0, why);
  assert.equal(r.duplicates, 0, why);
  assert.equal(r.misdelivered, 0, why);
  assert.equal(r.outOfOrder, 0, why);
  assert.equal(r.sent, r.acknowledged + r.unacknowledged + r.pending);
  assert.deepEqual(r.failures, []);
  assert.equal(r.ok, true);
});
