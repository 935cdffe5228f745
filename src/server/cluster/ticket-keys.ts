/**
 * Session-ticket keys shared by every node of a cluster (docs/PROTOCOL.md §9.3, docs/CLUSTER.md),
 * so that a ticket sealed on node A resumes on node B.
 *
 * Rotation is coordinated by the clock, not by a leader: time is cut into epochs of `rotationMs`,
 * and the key of epoch E lives in SharedValues under `ticketkey:<rotationMs>:<E>`. The first node
 * to ask for a slot creates it (putIfAbsent: one winner cluster-wide) and every node reads the same
 * key; every node makes the next epoch's slot as soon as the current one starts, so a node whose
 * clock is slightly ahead never seals with a key the others lack. A slot lives for its epoch, the
 * next one and one ticket lifetime: what a ticket sealed at the end of the epoch needs.
 *
 * Stored keys are sealed: AES-256-GCM under a wrap key = HKDF-SHA256(cluster secret, salt =
 * "securechat v1 cluster" ‖ namespace, info = "securechat v1 ticket key wrap"), with the slot name
 * and key id as AAD (a value moved to another slot does not open). Whoever reads Redis/NATS sees
 * only sealed keys; the secret comes from a 0600 file (secret.ts) and is never logged.
 *
 * Bus down: a node that cannot read or create the current slot makes a key of its own for that
 * epoch (its tickets resume only on itself) and keeps trying; the shared key, once read, takes over.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { SecureChatError, toSecureChatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { TICKET_KEY_ID_SIZE, type TicketKeyRing } from '../tickets.js';
import type { BusFailures } from './failures.js';
import type { SharedValues } from './types.js';

export interface SharedTicketKeysOptions {
  values: SharedValues;
  /** The server's ring, in external mode (TicketServiceOptions.externalKeys). */
  ring: TicketKeyRing;
  /** The cluster secret (IKM, ≥ 32 bytes). */
  secret: Buffer;
  /** The cluster's namespace on the bus: two clusters on one bus never share keys. */
  namespace: string;
  rotationMs: number;
  lifetimeMs: number;
  failures: BusFailures;
  log: Logger;
  now?: () => number;
}

const WRAP_INFO = Buffer.from('securechat v1 ticket key wrap', 'ascii');
const AAD_LABEL = 'securechat v1 ticket key';
/** Past slots read at start-up: 25 with the defaults (1 h rotation, 24 h lifetime). */
const MAX_PAST_SLOTS = 48;
/** Extra life of a stored slot beyond what its tickets need (clock skew between nodes). */
const MARGIN_MS = 60_000;

export function wrapKeyFor(secret: Buffer, namespace: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from(`securechat v1 cluster${namespace}`, 'utf8'), WRAP_INFO, 32));
}

function aad(slot: string, id: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${AAD_LABEL}\u0000${slot}\u0000`, 'utf8'), id]);
}

/** The stored form of one key: {"v":1,"id","iv","ct"} (ct = AES-256-GCM ciphertext ‖ tag), base64. */
export function sealKey(wrapKey: Buffer, slot: string, id: Buffer, key: Buffer, iv: Buffer = randomBytes(12)): string {
  const c = createCipheriv('aes-256-gcm', wrapKey, iv);
  c.setAAD(aad(slot, id));
  const ct = Buffer.concat([c.update(key), c.final(), c.getAuthTag()]);
  return JSON.stringify({ v: 1, id: id.toString('base64'), iv: iv.toString('base64'), ct: ct.toString('base64') });
}

/** Throws bad_input when the value is not a key sealed for this slot under this wrap key. */
export function openKey(wrapKey: Buffer, slot: string, stored: string): { id: Buffer; key: Buffer } {
  try {
    const o = JSON.parse(stored) as { v: number; id: string; iv: string; ct: string };
    const id = Buffer.from(o.id, 'base64');
    const iv = Buffer.from(o.iv, 'base64');
    const ct = Buffer.from(o.ct, 'base64');
    if (o.v !== 1 || id.length !== TICKET_KEY_ID_SIZE || iv.length !== 12 || ct.length !== 32 + 16) throw new Error('shape');
    const d = createDecipheriv('aes-256-gcm', wrapKey, iv);
    d.setAAD(aad(slot, id));
    d.setAuthTag(ct.subarray(32));
    return { id, key: Buffer.concat([d.update(ct.subarray(0, 32)), d.final()]) };
  } catch {
    throw new SecureChatError('bad_input', `The shared ticket key ${slot} does not open with this node's cluster secret.`, { reason: 'cluster_secret_mismatch' });
  }
}

export class SharedTicketKeys {
  private readonly wrapKey: Buffer;
  private readonly now: () => number;
  /** Epochs whose shared key is in the ring. */
  private readonly shared = new Set<number>();
  /** Epochs sealed with a key of this node's own while the shared one could not be had. */
  private readonly fallback = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private mismatchLogged = false;

  constructor(private readonly o: SharedTicketKeysOptions) {
    if (o.secret.length < 32) throw new SecureChatError('usage', 'The cluster secret must be at least 32 bytes.');
    this.wrapKey = wrapKeyFor(o.secret, o.namespace);
    this.now = o.now ?? Date.now;
  }

  epochOf(ms: number): number {
    return Math.floor(ms / this.o.rotationMs);
  }

  slot(epoch: number): string {
    return `ticketkey:${this.o.rotationMs}:${epoch}`;
  }

  /** Loads every key a live ticket may need, makes the current and next ones, and keeps them coming. */
  async start(): Promise<void> {
    const now = this.now();
    const current = this.epochOf(now);
    // Every slot a live ticket may need, but at most MAX_PAST_SLOTS (a short rotation would mean thousands).
    const first = Math.max(this.epochOf(now - this.o.lifetimeMs - this.o.rotationMs), current - MAX_PAST_SLOTS);
    // Past slots are only read: a node must never create a key for a time that is over.
    const past: Promise<void>[] = [];
    for (let e = Math.max(0, first); e < current; e++) past.push(this.load(e, false).then(() => undefined));
    await Promise.all(past);
    await this.tick();
    const every = Math.max(250, Math.min(Math.floor(this.o.rotationMs / 4), 60_000));
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Makes sure the current and the next epoch have their shared keys (one pass at a time). */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    // Cleared after it is stored: a pass with nothing to load completes synchronously.
    const pass = this.ensure().finally(() => {
      if (this.ticking === pass) this.ticking = null;
    });
    this.ticking = pass;
    return pass;
  }

  private async ensure(): Promise<void> {
    const current = this.epochOf(this.now());
    for (const e of [current, current + 1]) {
      if (this.shared.has(e)) continue;
      const ok = await this.load(e, true);
      if (!ok && e === current && !this.fallback.has(e) && !this.hasKeyFor(e)) this.makeFallback(e);
    }
  }

  /** Reads (or creates) the slot of `epoch` and imports its key; false when the bus or the secret failed. */
  private async load(epoch: number, create: boolean): Promise<boolean> {
    const slot = this.slot(epoch);
    let stored: string | null;
    try {
      if (create) {
        const ttl = (epoch + 2) * this.o.rotationMs + this.o.lifetimeMs + MARGIN_MS - this.now();
        stored = await this.o.values.putIfAbsent(slot, sealKey(this.wrapKey, slot, randomBytes(TICKET_KEY_ID_SIZE), randomBytes(32)), ttl);
      } else {
        stored = await this.o.values.get(slot);
      }
    } catch (err) {
      this.o.failures.failed('ticket_keys', toSecureChatError(err));
      return false;
    }
    if (stored === null) return false;
    let opened: { id: Buffer; key: Buffer };
    try {
      opened = openKey(this.wrapKey, slot, stored);
    } catch (err) {
      if (!this.mismatchLogged) {
        this.mismatchLogged = true;
        this.o.log.error('shared ticket keys do not open: the cluster secret differs between nodes; tickets from other nodes will be refused (unknown_key)', { slot });
      }
      this.o.failures.failed('ticket_keys', toSecureChatError(err));
      return false;
    }
    // +1 ms: the shared key of an epoch supersedes this node's fallback key of the same epoch.
    this.o.ring.import({ id: opened.id, key: opened.key, createdAt: epoch * this.o.rotationMs + 1 });
    opened.key.fill(0);
    this.shared.add(epoch);
    if (this.fallback.delete(epoch)) this.o.log.info('cluster ticket key back in use after a fallback', { epoch });
    return true;
  }

  private hasKeyFor(epoch: number): boolean {
    // Any key made for this epoch or the previous one can keep sealing for a while; none at all cannot.
    const from = (epoch - 1) * this.o.rotationMs;
    return this.o.ring.describe().some((k) => k.createdAt >= from && k.createdAt <= this.now());
  }

  private makeFallback(epoch: number): void {
    this.fallback.add(epoch);
    this.o.ring.import({ id: randomBytes(TICKET_KEY_ID_SIZE), key: randomBytes(32), createdAt: epoch * this.o.rotationMs });
    this.o.log.warn('cluster ticket key unavailable: sealing tickets with a key of this node only (they resume here, not on other nodes) until the bus answers', { epoch });
  }

  // Never a key, a secret or a wrap key in a log line or a dump.
  toJSON(): string {
    return '[redacted shared ticket keys]';
  }
}
