/**
 * Every Redis and NATS call has a bounded time: against a bus that accepts the connection but stops
 * answering (a proxy that swallows the replies), each interface method rejects with
 * cluster_unavailable instead of hanging, and close() returns.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SecureChatError } from '../../src/errors.js';
import { NatsBackend } from '../../src/server/cluster/nats.js';
import { RedisBackend } from '../../src/server/cluster/redis.js';
import type { ClusterBackend } from '../../src/server/cluster/types.js';
import { clusterSkip, disposeNamespace, TEST_NATS_URL, TEST_REDIS_URL, testNamespace } from '../helpers/cluster.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const ENTRY = { node: 'silent', session: 's1', userId: 1, uuid: 'u-1', username: 'user1', ip: '127.0.0.1' };

async function rejectsUnavailable(what: string, op: () => Promise<unknown>): Promise<void> {
  await assert.rejects(op(), (err: unknown) => {
    assert.ok(err instanceof SecureChatError, `${what}: a SecureChatError, got ${String(err)}`);
    assert.equal(err.code, 'cluster_unavailable', what);
    return true;
  });
}

for (const [name, url] of [['Redis', TEST_REDIS_URL], ['NATS', TEST_NATS_URL]] as const) {
  describe(`${name}: a bus that stops answering`, { skip: await clusterSkip(name, url), timeout: 60_000 }, () => {
    let proxy: TcpProxy;
    let backend: ClusterBackend;
    const namespace = testNamespace();

    before(async () => {
      proxy = new TcpProxy(Number(new URL(url).port));
      await proxy.start();
      const via = new URL(url);
      via.port = String(proxy.port);
      if (name === 'NATS') {
        backend = await NatsBackend.open(via.toString(), { namespace, timeoutMs: 500 });
      } else {
        const r = new RedisBackend(via.toString(), { namespace, commandTimeoutMs: 500 });
        await r.connect();
        backend = r;
      }
      // Works while the replies flow.
      await backend.set.put('warm', 10_000);
      proxy.swallowReplies = true;
    });
    after(async () => {
      await backend?.close();
      await proxy?.close();
      await disposeNamespace(url, namespace);
    });

    test('every shared-state and presence call rejects with cluster_unavailable', async () => {
      await rejectsUnavailable('set.addIfAbsent', () => backend.set.addIfAbsent('k', 10_000));
      await rejectsUnavailable('set.put', () => backend.set.put('k', 10_000));
      await rejectsUnavailable('set.remainingMs', () => backend.set.remainingMs('k'));
      await rejectsUnavailable('set.delete', () => backend.set.delete('k'));
      await rejectsUnavailable('counters.incr', () => backend.counters.incr('c', 10_000));
      await rejectsUnavailable('counters.get', () => backend.counters.get('c'));
      await rejectsUnavailable('counters.reset', () => backend.counters.reset('c'));
      await rejectsUnavailable('presence.put', () => backend.presence.put(ENTRY, 10_000));
      await rejectsUnavailable('presence.refresh', () => backend.presence.refresh('silent', 10_000));
      await rejectsUnavailable('presence.list', () => backend.presence.list());
      await rejectsUnavailable('presence.remove', () => backend.presence.remove('silent', 's1'));
      await rejectsUnavailable('presence.clear', () => backend.presence.clear('silent'));
    });

    test('subscribing rejects too, and close() returns', async () => {
      await rejectsUnavailable('bus.subscribe', () => backend.bus.subscribe('quiet', () => undefined));
      if (name === 'Redis') await rejectsUnavailable('bus.publish', () => backend.bus.publish('quiet', { x: 1 }));
      await backend.close();
    });
  });
}
