/**
 * Counts handshakes in progress, globally and per source IP, so that a flood of stalled
 * connections from one address cannot starve everyone else (the handshake deadline frees slots).
 */
export interface HandshakeLimits {
  maxHandshakes: number;
  maxHandshakesPerIp: number;
}

export class HandshakeLimiter {
  private total = 0;
  private readonly perIp = new Map<string, number>();

  constructor(private readonly limits: HandshakeLimits) {}

  /** Takes a slot for `ip`; false when the global or the per-IP limit is reached. */
  tryAcquire(ip: string): boolean {
    const mine = this.perIp.get(ip) ?? 0;
    if (this.total >= this.limits.maxHandshakes || mine >= this.limits.maxHandshakesPerIp) return false;
    this.total++;
    this.perIp.set(ip, mine + 1);
    return true;
  }

  release(ip: string): void {
    const mine = this.perIp.get(ip) ?? 0;
    if (mine <= 0) return;
    this.total--;
    if (mine === 1) this.perIp.delete(ip);
    else this.perIp.set(ip, mine - 1);
  }

  get inProgress(): number {
    return this.total;
  }
}
