/** The cluster contract on each backend: memory always, Redis and NATS when they answer (CI requires them). */
import { MemoryBackend, MemoryStore } from '../../src/server/cluster/memory.js';
import { NatsBackend } from '../../src/server/cluster/nats.js';
import { RedisBackend } from '../../src/server/cluster/redis.js';
import { openClusterBackend } from '../../src/server/cluster/index.js';
import { clusterSkip, TEST_NATS_URL, TEST_REDIS_URL, testNamespace } from '../helpers/cluster.js';
import { runClusterContract } from './cluster.contract.js';

runClusterContract('memory', async () => {
  const store = new MemoryStore();
  return { open: async () => new MemoryBackend(store), dispose: async () => store.stop() };
});

runClusterContract(
  'redis',
  async () => {
    const namespace = testNamespace();
    return {
      open: () => openClusterBackend(TEST_REDIS_URL, { namespace }),
      async dispose() {
        const cleanup = new RedisBackend(TEST_REDIS_URL, { namespace });
        await cleanup.connect();
        const keys = await cleanup.cmd.keys(`${namespace}:*`);
        if (keys.length > 0) await cleanup.cmd.del(...keys);
        await cleanup.close();
      },
    };
  },
  { skip: await clusterSkip('Redis', TEST_REDIS_URL) },
);

runClusterContract(
  'nats',
  async () => {
    const namespace = testNamespace();
    return {
      open: () => openClusterBackend(TEST_NATS_URL, { namespace }),
      async dispose() {
        const cleanup = await NatsBackend.open(TEST_NATS_URL, { namespace });
        await cleanup.destroy();
        await cleanup.close();
      },
    };
  },
  { skip: await clusterSkip('NATS', TEST_NATS_URL) },
);
