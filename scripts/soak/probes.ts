/**
 * One probe client per cluster node (users probe0…), pinned to that node: it asks `who` every
 * PROBE_INTERVAL_MS and PresenceTruth judges the answer (presence.ts). A probe whose node died
 * dials the same node again until it is back; it never fails over, since it speaks for its node.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ChatClient } from '../../src/client/chat-client.js';
import type { RunEnvironment } from './environment.js';
import type { Fleet } from './fleet.js';
import { PROBE_INTERVAL_MS, type PresenceTruth, type Probe } from './presence.js';

const PASSWORD = 'probe password 1';
/** A `who` slower than this counts as an incorrect answer. */
const WHO_TIMEOUT_MS = 5000;

export function probeUser(i: number): string {
  return `probe${i}`;
}

export class PresenceProbes {
  private readonly clients: (ChatClient | null)[];
  private readonly registered = new Set<number>();
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly env: RunEnvironment,
    private readonly fleet: Fleet,
    private readonly truth: PresenceTruth,
  ) {
    this.clients = fleet.slots.map(() => null);
  }

  /** Logs every probe in, then starts asking. */
  async start(): Promise<void> {
    await Promise.all(this.fleet.slots.map((_, i) => this.connect(i)));
    for (let i = 0; i < this.fleet.slots.length; i++) this.loops.push(this.loop(i));
  }

  private async connect(i: number): Promise<void> {
    const client = await ChatClient.connect({
      host: '127.0.0.1',
      port: this.fleet.slots[i].port,
      serverName: 'localhost',
      identity: this.env.identity(probeUser(i)),
      trust: this.env.trust,
      connectTimeoutMs: 5000,
      handshakeTimeoutMs: 10_000,
      requestTimeoutMs: WHO_TIMEOUT_MS,
    });
    client.consume(() => undefined);
    client.on('warning', () => undefined);
    try {
      if (this.registered.has(i)) await client.login(PASSWORD);
      else await client.register(PASSWORD);
      this.registered.add(i);
    } catch (err) {
      client.close();
      throw err;
    }
    this.clients[i] = client;
  }

  private async loop(i: number): Promise<void> {
    const node = this.fleet.slots[i].name;
    while (!this.stopped) {
      const client = this.clients[i];
      if (!client || client.closed) {
        this.clients[i] = null;
        if (this.fleet.alive(i)) await this.connect(i).catch(() => undefined);
        await sleep(PROBE_INTERVAL_MS);
        continue;
      }
      const tq = Date.now();
      let listed: string[] | Error;
      try {
        listed = (await client.who()).map((u) => u.username);
      } catch (err) {
        listed = err instanceof Error ? err : new Error(String(err));
      }
      // Not judged once the node is gone (its probe's request fails with the connection).
      if (!this.stopped && this.fleet.alive(i)) this.truth.record(node, tq, Date.now(), listed);
      await sleep(PROBE_INTERVAL_MS);
    }
  }

  /** Resolves once every node's latest probe asked at or after `since` was correct (or rejects after timeoutMs). */
  async allCorrectSince(since: number, timeoutMs: number, correct: (p: Probe) => boolean): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = this.fleet.slots.every((s) => {
        const mine = this.truth.probes.filter((p) => p.node === s.name && p.tq >= since);
        return mine.length > 0 && correct(mine[mine.length - 1]);
      });
      if (ok) return Date.now();
      if (Date.now() > deadline) throw new Error('presence not correct on every node');
      await sleep(PROBE_INTERVAL_MS);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.clients) c?.close();
    await Promise.allSettled(this.loops);
  }
}
