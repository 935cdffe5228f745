/** Opens the cluster backend a `cluster` setting names: "memory" (single node), redis://… or nats://…. */
import { SecureChatError } from '../../errors.js';
import { MemoryBackend } from './memory.js';
import type { ClusterBackend } from './types.js';

export type { ClusterBackend } from './types.js';

export interface OpenClusterOptions {
  namespace?: string;
}

/** Rejects with cluster_unavailable when the bus cannot be reached at start-up (a typo must not start a lone node). */
export async function openClusterBackend(setting: string, options: OpenClusterOptions = {}): Promise<ClusterBackend> {
  if (setting === 'memory') return new MemoryBackend();
  if (setting.startsWith('redis://') || setting.startsWith('rediss://')) {
    // Loaded only when used: a single node (and every other command) never pays for the clients.
    const { RedisBackend } = await import('./redis.js');
    const backend = new RedisBackend(setting, options);
    await backend.connect();
    if (!backend.healthy) {
      await backend.close();
      throw new SecureChatError('cluster_unavailable', `Cannot reach Redis at ${redactClusterUrl(setting)}; is it running?`);
    }
    return backend;
  }
  if (setting.startsWith('nats://')) {
    const { NatsBackend } = await import('./nats.js');
    try {
      return await NatsBackend.open(setting, options);
    } catch (err) {
      throw new SecureChatError('cluster_unavailable', `Cannot reach NATS (with JetStream) at ${redactClusterUrl(setting)}: ${(err as Error).message}`);
    }
  }
  throw new SecureChatError('usage', `cluster must be "memory", redis://host:port or nats://host:port, got ${JSON.stringify(redactClusterUrl(setting))}.`);
}

/** The URL without its password, for logs and errors. */
export function redactClusterUrl(setting: string): string {
  return setting.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}
