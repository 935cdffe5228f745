/**
 * The short fuzz that runs in `npm test`: 2,000 random and mutated frames (before and after the
 * handshake) at a server process. It must survive, keep its RSS under the bound, and still serve a
 * valid client afterwards (the full run is `npm run fuzz`, docs/RELIABILITY.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz } from '../../scripts/fuzz/harness.js';

test('fuzz: 2,000 frames leave the server alive, bounded and serving', async () => {
  const r = await runFuzz({ frames: 2000, seed: 3, concurrency: 8 });
  const why = JSON.stringify({ failures: r.failures, rss: r.rssMb, codes: r.serverCodes });
  // A connection the server drops early sends fewer than planned; the harness fails below 95%.
  assert.ok(r.framesSent >= 1900, why);
  assert.ok(r.connections.preHandshake > 100 && r.connections.postHandshake > 5, JSON.stringify(r.connections));
  assert.equal(r.connections.handshakeFailed, 0, 'valid handshakes between the fuzz connections still succeed');
  // The server answered the garbage with the documented codes, not silence.
  assert.ok((r.serverCodes['hello:malformed'] ?? 0) > 0, why);
  assert.ok((r.serverCodes['response:ok'] ?? 0) > 0, why);
  assert.ok(Object.keys(r.serverCodes).some((c) => c.startsWith('alert:')), why);
  assert.equal(r.unansweredRequests, 0, why);
  assert.ok(r.rssMb.peak <= r.rssMb.bound, why);
  assert.equal(r.validClientServed, true, why);
  assert.deepEqual(r.failures, []);
  assert.equal(r.ok, true);
});
