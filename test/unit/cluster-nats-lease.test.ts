/** When NATS presence takes a node for dead (cluster/nats.ts isLongExpired). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvEntry } from 'nats';
import { isLongExpired } from '../../src/server/cluster/nats.js';

const lease = (exp: unknown, operation: KvEntry['operation'] = 'PUT'): KvEntry =>
  ({ operation, value: new TextEncoder().encode(JSON.stringify({ exp })) }) as unknown as KvEntry;

test('a lease key that vanished between the listing and the read is a node rewriting its presence, not a dead node', () => {
  // Found by the cluster soak (--restart-bus on NATS): every node clears and rewrites its presence
  // when the bus is back; another node listing meanwhile erased the fresh entries as "dead".
  assert.equal(isLongExpired(null), false);
});

test('a lease that ran out over a minute ago, a deleted or an unreadable one, is a dead node', () => {
  assert.equal(isLongExpired(lease(Date.now() - 61_000)), true);
  assert.equal(isLongExpired(lease(Date.now() - 1000)), false, 'late, not gone');
  assert.equal(isLongExpired(lease(Date.now() + 5000)), false);
  assert.equal(isLongExpired(lease(Date.now() + 5000, 'DEL')), true);
  assert.equal(isLongExpired(lease('soon')), true);
});
