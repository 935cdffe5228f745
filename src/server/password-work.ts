/**
 * A fair scheduler for password hashing (scrypt: tens of ms of CPU and 32 MiB each, on libuv's
 * small thread pool). At most `maxConcurrent` hashes run at once; waiting work is queued per source
 * address and served round-robin across addresses, so one address cannot push everyone else's
 * logins to the back. Each address and each certificate may have only a few hashes queued or
 * running; beyond that the request is refused with `throttled` before any hashing is done.
 */
import { SecureChatError } from '../errors.js';

export interface PasswordWorkLimits {
  /** Hashes running at once, server-wide. */
  maxConcurrent: number;
  /** Hashes queued or running for one source address. */
  maxPerAddress: number;
  /** Hashes queued or running for one certificate (or account, where no certificate is known). */
  maxPerCertificate: number;
}

export const DEFAULT_PASSWORD_WORK: PasswordWorkLimits = { maxConcurrent: 2, maxPerAddress: 8, maxPerCertificate: 2 };

/** Who the work is for. */
export interface WorkKey {
  ip: string;
  certificate: string;
}

interface Job {
  key: WorkKey;
  start: () => void;
}

export class PasswordWork {
  private running = 0;
  /** Waiting jobs per address; Map order is the round-robin order. */
  private readonly queues = new Map<string, Job[]>();
  private readonly perAddress = new Map<string, number>();
  private readonly perCertificate = new Map<string, number>();

  constructor(private readonly limits: PasswordWorkLimits = DEFAULT_PASSWORD_WORK) {}

  /** Runs `work` when the key's turn comes; `throttled` at once if the key already has its share. */
  async run<T>(key: WorkKey, work: () => Promise<T>): Promise<T> {
    if ((this.perAddress.get(key.ip) ?? 0) >= this.limits.maxPerAddress || (this.perCertificate.get(key.certificate) ?? 0) >= this.limits.maxPerCertificate) {
      throw new SecureChatError('throttled', 'Too many password checks at once from here; retry shortly.', { details: { retryAfterMs: 1000 } });
    }
    bump(this.perAddress, key.ip, 1);
    bump(this.perCertificate, key.certificate, 1);
    try {
      await new Promise<void>((resolve) => this.enqueue({ key, start: resolve }));
      try {
        return await work();
      } finally {
        this.running--;
        this.next();
      }
    } finally {
      bump(this.perAddress, key.ip, -1);
      bump(this.perCertificate, key.certificate, -1);
    }
  }

  private enqueue(job: Job): void {
    const queue = this.queues.get(job.key.ip);
    if (queue) queue.push(job);
    else this.queues.set(job.key.ip, [job]);
    this.next();
  }

  /** Starts waiting jobs while slots are free, one address at a time in turn. */
  private next(): void {
    while (this.running < this.limits.maxConcurrent && this.queues.size > 0) {
      const [ip, queue] = this.queues.entries().next().value as [string, Job[]];
      const job = queue.shift() as Job;
      // Move this address to the back of the round.
      this.queues.delete(ip);
      if (queue.length > 0) this.queues.set(ip, queue);
      this.running++;
      job.start();
    }
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
