/**
 * The server side of a soak run: one forked server (server-process.ts), or `nodes` real
 * `securechat serve --cluster` processes (serve-node.ts) on one MySQL database and one bus (bus.ts).
 * It starts, SIGKILLs and restarts them on their ports, says which nodes a client dials in which
 * order, tracks peak RSS across restarts and keeps the logs of a failed run.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBus, type SoakBus } from './bus.js';
import type { RunEnvironment } from './environment.js';
import { spawnNode } from './serve-node.js';
import { spawnServer, type ProcessHandle } from './server-handle.js';

/** More nodes than this on one machine measures the machine, not the cluster. */
export const MAX_NODES = 8;

// Every soak client dials from 127.0.0.1: the per-IP handshake, password-hash and session caps must not be the bottleneck.
const LIMITS = { maxHandshakesPerIp: 256, passwordHashesPerIp: 64, maxSessionsPerIp: 1024 } as const;
const LIMITS_ENV: Record<string, string> = {
  SECURECHAT_MAX_HANDSHAKES_PER_IP: String(LIMITS.maxHandshakesPerIp),
  SECURECHAT_PASSWORD_HASHES_PER_IP: String(LIMITS.passwordHashesPerIp),
  SECURECHAT_MAX_SESSIONS_PER_IP: String(LIMITS.maxSessionsPerIp),
};

export interface NodeSlot {
  name: string;
  /** 0 until the first start; then fixed: a restart listens on the same port. */
  port: number;
  handle: ProcessHandle | null;
  logFile: string;
  peakRss: number;
}

export interface FleetOptions {
  env: RunEnvironment;
  nodes: number;
  /** Bus spec (bus.ts); required when nodes > 1. */
  cluster?: string;
  /** The soak must be able to kill the bus: start its own. */
  ownBus: boolean;
  progress: (line: string) => void;
}

export class Fleet {
  private constructor(
    private readonly o: FleetOptions,
    readonly slots: NodeSlot[],
    readonly bus: SoakBus | null,
  ) {}

  static async start(o: FleetOptions): Promise<Fleet> {
    const clustered = o.cluster !== undefined;
    const names = clustered ? Array.from({ length: o.nodes }, (_, i) => String.fromCharCode(65 + i)) : ['server'];
    const slots = names.map((name) => ({ name, port: 0, handle: null, logFile: join(o.env.dir, clustered ? `node-${name}.log` : 'server.log'), peakRss: 0 }));
    const bus = o.cluster !== undefined ? await openBus(o.cluster, { dir: join(o.env.dir, 'bus'), own: o.ownBus }) : null;
    const fleet = new Fleet(o, slots, bus);
    try {
      if (bus) o.progress(`soak: bus ${bus.describe()}`);
      // The first node migrates the fresh database; the others start once it is ready.
      await fleet.startNode(0);
      await Promise.all(slots.slice(1).map((_, i) => fleet.startNode(i + 1)));
    } catch (err) {
      await fleet.dispose();
      throw err;
    }
    return fleet;
  }

  get clustered(): boolean {
    return this.bus !== null;
  }

  /**
   * The nodes client `i` dials, in order: its home node (i mod n) first, then the others — half the
   * clients forwards, half backwards, so a dead node's clients spread over the survivors.
   */
  orderFor(i: number): number[] {
    const n = this.slots.length;
    const home = i % n;
    const step = Math.floor(i / n) % 2 === 0 ? 1 : n - 1;
    return Array.from({ length: n }, (_, j) => (home + j * step) % n);
  }

  async startNode(i: number): Promise<void> {
    const slot = this.slots[i];
    const { env } = this.o;
    const handle = this.bus
      ? await spawnNode({ name: slot.name, certs: env.certs, db: env.dbUrl, cluster: this.bus.url, port: slot.port, logFile: slot.logFile, statsMs: 500, env: LIMITS_ENV })
      : await spawnServer({
          certs: env.certs,
          db: env.dbUrl,
          port: slot.port,
          logFile: slot.logFile,
          logLevel: process.env.SECURECHAT_SOAK_LOG_LEVEL ?? 'warn',
          statsMs: 500,
          config: LIMITS,
        });
    slot.handle = handle;
    slot.port = handle.port;
  }

  /** SIGKILL: no flush, no goodbye, no presence cleanup. */
  async killNode(i: number): Promise<void> {
    const slot = this.slots[i];
    if (!slot.handle) return;
    slot.peakRss = Math.max(slot.peakRss, slot.handle.memory.peakRss);
    await slot.handle.kill();
    slot.handle = null;
  }

  alive(i: number): boolean {
    return this.slots[i].handle?.alive ?? false;
  }

  /** Peak RSS per node in bytes, over every process that ran in its slot. */
  peakRss(): Record<string, number> {
    return Object.fromEntries(this.slots.map((s) => [s.name, Math.max(s.peakRss, s.handle?.memory.peakRss ?? 0)]));
  }

  /** Copies the logs out of the temp directory (which dispose() removes); returns where. */
  keepLogs(): string | undefined {
    if (!this.clustered) {
      const kept = join(tmpdir(), `securechat-soak-server-${Date.now()}.log`);
      try {
        copyFileSync(this.slots[0].logFile, kept);
        return kept;
      } catch {
        return undefined;
      }
    }
    const dir = mkdtempSync(join(tmpdir(), 'securechat-soak-logs-'));
    for (const s of this.slots) {
      try {
        copyFileSync(s.logFile, join(dir, `node-${s.name}.log`));
      } catch {
        // this node wrote no log
      }
    }
    return dir;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.handle?.stop().catch(() => undefined)));
    await this.bus?.dispose();
  }
}
