/**
 * Where every bus failure goes: a counter per operation (metrics) and a log line — the first failure
 * of an operation at once, the rest of the same interval summed up in one line, so an outage of a
 * few minutes under load does not write a million lines. Never throws.
 */
import type { SecureChatError } from '../../errors.js';
import type { Logger } from '../../log.js';

/** What the cluster reports to metrics (ServerMetrics implements it). */
export interface ClusterObserver {
  clusterFailure(op: string): void;
  clusterCatchUp(reason: string, sessions: number): void;
  clusterDoorbell(direction: 'sent' | 'received'): void;
  clusterHealth(up: boolean): void;
}

export const NULL_CLUSTER_OBSERVER: ClusterObserver = {
  clusterFailure: () => undefined,
  clusterCatchUp: () => undefined,
  clusterDoorbell: () => undefined,
  clusterHealth: () => undefined,
};

export class BusFailures {
  private readonly suppressed = new Map<string, { count: number; since: number; last: string }>();
  private readonly timer: NodeJS.Timeout;
  total = 0;

  constructor(
    private readonly log: Logger,
    private readonly observer: ClusterObserver,
    private readonly intervalMs = 10_000,
  ) {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  failed(op: string, err: SecureChatError): void {
    this.total++;
    this.observer.clusterFailure(op);
    const s = this.suppressed.get(op);
    if (!s) {
      this.suppressed.set(op, { count: 0, since: Date.now(), last: err.message });
      this.log.warn(`cluster ${op} failed; degrading`, { op, code: err.code, error: err.message });
      return;
    }
    s.count++;
    s.last = err.message;
  }

  /** Writes the summary lines of the interval and starts a new one. */
  flush(): void {
    for (const [op, s] of this.suppressed) {
      if (s.count > 0) this.log.warn(`cluster ${op} failed ${s.count} more times in the last ${Math.round((Date.now() - s.since) / 1000)} s`, { op, failures: s.count, error: s.last });
    }
    this.suppressed.clear();
  }

  stop(): void {
    this.flush();
    clearInterval(this.timer);
  }
}
