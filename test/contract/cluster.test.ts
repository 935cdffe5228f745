/** The cluster contract on each backend: memory always, Redis and NATS when they answer (CI requires them). */
import { MemoryBackend, MemoryStore } from '../../src/server/cluster/memory.js';
import { openClusterBackend } from '../../src/server/cluster/index.js';
import { clusterSkip, disposeNamespace, TEST_NATS_URL, TEST_REDIS_URL, testNamespace } from '../helpers/cluster.js';
import { runClusterContract } from './cluster.contract.js';

runClusterContract('memory', async () => {
  const store = new MemoryStore();
  return { open: async () => new MemoryBackend(store), dispose: async () => store.stop() };
});

for (const [name, url] of [['Redis', TEST_REDIS_URL], ['NATS', TEST_NATS_URL]] as const) {
  runClusterContract(
    name.toLowerCase(),
    async () => {
      const namespace = testNamespace();
      return { open: () => openClusterBackend(url, { namespace }), dispose: () => disposeNamespace(url, namespace) };
    },
    { skip: await clusterSkip(name, url) },
  );
}
