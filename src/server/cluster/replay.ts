/**
 * The handshake replay cache across nodes: a client_hello nonce seen on one node is refused on every
 * other. The node's own ReplayGuard still runs first (its check/record split, clock window, bounded
 * memory and per-source shares are unchanged); `record` then claims the nonce in the shared set
 * for as long as the hello's timestamp stays inside the window. If the bus is unreachable the
 * claim is skipped (logged, counted): a replayed hello is useless without the client's key anyway
 * (fresh server nonce and key share), so availability wins over this second line of defence.
 */
import type { ReplayGuard } from '../../protocol/replay-guard.js';
import type { ReplayGuardLike } from '../../protocol/types.js';
import { SecureChatError, toSecureChatError } from '../../errors.js';
import type { BusFailures } from './failures.js';
import type { SharedSet } from './types.js';

export class ClusterReplayGuard implements ReplayGuardLike {
  constructor(
    private readonly local: ReplayGuard,
    private readonly shared: SharedSet,
    private readonly failures: BusFailures,
  ) {}

  check(nonce: Buffer, timestampMs: number, nowMs: number): void {
    this.local.check(nonce, timestampMs, nowMs);
  }

  async record(nonce: Buffer, timestampMs: number, nowMs: number, source?: string): Promise<void> {
    this.local.record(nonce, timestampMs, nowMs, source);
    const ttlMs = Math.max(1000, timestampMs + this.local.windowMs - nowMs);
    let fresh: boolean;
    try {
      fresh = await this.shared.addIfAbsent(`hello:${nonce.toString('base64')}`, ttlMs);
    } catch (err) {
      this.failures.failed('replay_cache', toSecureChatError(err));
      return;
    }
    if (!fresh) throw new SecureChatError('replay', 'This client_hello nonce was already used (on another node).');
  }
}
