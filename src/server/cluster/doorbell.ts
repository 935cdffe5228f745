/**
 * Delivery across nodes (DESIGN.md §5: the database is the log, the bus only rings).
 *
 * After a commit the storing node rings {conversation, seq, id, recipients} and, for a text of at
 * most 8 KiB, the stored message itself (doorbell-payload.ts). A node holding sessions of a
 * recipient pushes the carried message, or reads the row from the database when there is none (one
 * read per node, shared by its sessions). Either way the row is committed before the bell rings, so
 * what is pushed is what the database holds; the payload only saves the read. A live push is made only when it continues the conversation exactly (seq = last seq
 * this node saw + 1); anything else — a gap, a doorbell overtaken by a newer one, the first message
 * of a conversation since start — sends the recipients' sessions to catch-up, which reads their
 * pending rows from the database in seq order (no read of the rung row first: catch-up reads it). So a session never receives seq n+1 before n and
 * never acknowledges past a message it has not seen.
 *
 * Lost doorbells: each node numbers its doorbells and announces the latest number in a heartbeat;
 * a receiver that sees a number skipped (in a doorbell or a heartbeat) sends every local session to
 * catch-up. While the bus is down every local session catches up every `catchupMs`, and once more
 * when the bus is back. The delay of a lost doorbell is thus bounded by heartbeatMs (bus up) or
 * catchupMs (bus down), plus one database read. A node that dies between a commit and its doorbell
 * never sends a higher number: when a peer has been silent for three heartbeats every local session
 * catches up once (checkPeers).
 */
import { toSecureChatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { MessageView, Storage } from '../../storage/types.js';
import type { Delivery, Recipient } from '../delivery.js';
import type { Hub } from '../hub.js';
import type { BusFailures, ClusterObserver } from './failures.js';
import { inlinePayload, payloadView, type DoorbellPayload } from './doorbell-payload.js';
import type { BusMessage } from './types.js';

/** Conversations whose last seq a node remembers (LRU): an evicted one just catches up once. */
const MAX_CONVERSATIONS = 100_000;
/** A peer silent for this long is forgotten (it restarted under a new incarnation, or left). */
const PEER_TIMEOUT_MS = 60_000;

export interface DoorbellMessage extends BusMessage {
  t: 'msg';
  node: string;
  inc: string;
  n: number;
  c: number;
  s: number;
  id: number;
  /** Recipients as [user id, username]. */
  r: Array<[number, string]>;
  from: number;
  /** The stored message itself (small texts only; absent: read the row). */
  v?: DoorbellPayload;
}

export interface HeartbeatMessage extends BusMessage {
  t: 'hb';
  node: string;
  inc: string;
  n: number;
}

export interface DoorbellDeps {
  storage: Storage;
  hub: Hub;
  delivery: Delivery;
  log: Logger;
  failures: BusFailures;
  observer: ClusterObserver;
  nodeId: string;
  incarnation: string;
  publish(msg: BusMessage, op: string): void;
}

export class Doorbell {
  private readonly lastSeq = new Map<number, number>();
  private readonly chains = new Map<number, Promise<void>>();
  private readonly peers = new Map<string, { n: number; seenAt: number; silent: boolean }>();
  /** Doorbells this node rang (published or attempted: a failed one leaves a gap others notice). */
  private sent = 0;
  private catchUpQueued = false;

  constructor(private readonly d: DoorbellDeps) {}

  /** Delivery.stored: a message committed on this node. */
  stored(view: MessageView, recipients: readonly Recipient[]): void {
    this.gate(view, recipients);
    this.sent++;
    const msg: DoorbellMessage = {
      t: 'msg', node: this.d.nodeId, inc: this.d.incarnation, n: this.sent,
      c: view.conversationId, s: view.seq, id: view.id, from: view.senderId,
      r: recipients.map((r) => [r.userId, r.username]),
    };
    const v = inlinePayload(view);
    if (v) msg.v = v;
    this.d.observer.clusterDoorbell('sent');
    this.d.publish(msg, 'doorbell');
  }

  heartbeat(): HeartbeatMessage {
    return { t: 'hb', node: this.d.nodeId, inc: this.d.incarnation, n: this.sent };
  }

  /** A doorbell from another node. */
  received(m: DoorbellMessage): void {
    this.d.observer.clusterDoorbell('received');
    this.track(m.node, m.inc, m.n, true);
    const recipients = parseRecipients(m.r);
    if (!recipients || !isId(m.c) || !isId(m.s) || !isId(m.id) || !isId(m.from)) {
      // Unusable: as good as lost, and made good the same way.
      this.d.log.warn('cluster: a malformed doorbell; catching up from the database', { node: String(m.node) });
      this.catchUpAll('lost_doorbell');
      return;
    }
    // The sender counts too: a gap this message reveals may hold messages *to* the sender.
    const here = this.d.hub.isLocal(m.from) || recipients.some((r) => this.d.hub.isLocal(r.userId));
    // Without a pending step of this conversation, apply it now (most doorbells: no promise at all).
    if (this.chains.has(m.c)) this.chain(m.c, () => this.ring(m, recipients, here));
    else {
      const pending = this.ring(m, recipients, here);
      if (pending) this.chain(m.c, () => pending);
    }
  }

  /** Applies one doorbell; returns a promise only when the row has to be read first. */
  private ring(m: DoorbellMessage, recipients: Recipient[], here: boolean): Promise<void> | undefined {
    if (!here) {
      // Nobody here to push to: only remember how far the conversation got.
      this.advance(m.c, m.s);
      return undefined;
    }
    const known = this.lastSeq.get(m.c);
    if (known === undefined || m.s !== known + 1) {
      // A gap, an overtaken doorbell, or a conversation new to this node: the sessions catch up,
      // which reads the rows anyway.
      this.advance(m.c, m.s);
      this.catchUpUsers(recipients, m.from);
      return undefined;
    }
    const carried = m.v === undefined ? null : payloadView(m, m.v);
    if (carried) {
      this.gate(carried, recipients);
      return undefined;
    }
    return this.readAndGate(m, recipients);
  }

  private async readAndGate(m: DoorbellMessage, recipients: Recipient[]): Promise<void> {
    let view: MessageView | null;
    try {
      view = await this.d.storage.getMessage(m.id);
    } catch (err) {
      this.d.log.warn('reading a rung message failed; its recipients catch up', { conversation: m.c, error: toSecureChatError(err).message });
      this.catchUpUsers(recipients, m.from);
      return;
    }
    // The row must be the one rung (a bus that mixed up ids would otherwise push another message).
    if (view && view.conversationId === m.c && view.seq === m.s) this.gate(view, recipients);
    else this.catchUpUsers(recipients, m.from);
  }

  heartbeatReceived(m: HeartbeatMessage): void {
    this.track(m.node, m.inc, m.n, false);
  }

  /** Every local session reads its pending rows from the database (coalesced to one pass per tick). */
  catchUpAll(reason: string): void {
    if (this.catchUpQueued) return;
    this.catchUpQueued = true;
    setImmediate(() => {
      this.catchUpQueued = false;
      let sessions = 0;
      for (const userId of [...this.d.hub.localUserIds()]) {
        for (const s of this.d.hub.sessionsOf(userId)) {
          sessions++;
          this.d.delivery.catchUp(s);
        }
      }
      this.d.observer.clusterCatchUp(reason, sessions);
      if (reason !== 'bus_down') this.d.log.info('cluster catch-up: local sessions re-read their pending messages', { reason, sessions });
    });
  }

  private track(node: string, inc: string, n: number, isDoorbell: boolean): void {
    if (node === this.d.nodeId || typeof n !== 'number') return;
    const key = `${node}/${inc}`;
    const now = Date.now();
    const peer = this.peers.get(key);
    if (!peer) {
      this.peers.set(key, { n, seenAt: now, silent: false });
      this.prunePeers(now);
      return;
    }
    // A doorbell must be the next number; a heartbeat repeats the last one.
    const expected = isDoorbell ? peer.n + 1 : peer.n;
    if (n > expected) {
      this.d.log.warn('cluster: doorbells from a node were lost; catching up from the database', { node, missed: n - expected });
      this.catchUpAll('lost_doorbell');
    }
    peer.n = Math.max(peer.n, n);
    peer.seenAt = now;
    peer.silent = false;
  }

  /**
   * Called every heartbeat tick: a peer silent for `silentMs` may have died between a commit and
   * its doorbell — a gap no later number of its will ever show — so every local session catches up
   * once (a dead node's last message reaches its online recipients within ~silentMs, not at their
   * next reconnect or the conversation's next message).
   */
  checkPeers(silentMs: number, now = Date.now()): void {
    let quiet = false;
    for (const p of this.peers.values()) {
      if (!p.silent && now - p.seenAt > silentMs) {
        p.silent = true;
        quiet = true;
      }
    }
    if (quiet) this.catchUpAll('peer_silent');
  }

  private prunePeers(now: number): void {
    for (const [k, p] of this.peers) if (now - p.seenAt > PEER_TIMEOUT_MS) this.peers.delete(k);
  }

  private advance(conversationId: number, seq: number): number | undefined {
    const known = this.lastSeq.get(conversationId);
    this.lastSeq.delete(conversationId);
    this.lastSeq.set(conversationId, Math.max(known ?? 0, seq));
    if (this.lastSeq.size > MAX_CONVERSATIONS) this.lastSeq.delete(this.lastSeq.keys().next().value as number);
    return known;
  }

  private gate(view: MessageView, recipients: readonly Recipient[]): void {
    const known = this.advance(view.conversationId, view.seq);
    if (known !== undefined && view.seq === known + 1) this.d.delivery.pushLive(view, recipients);
    else this.catchUpUsers(recipients, view.senderId);
  }

  /**
   * A gap (or an unreadable row): the sessions of every member catch up — the sender's included.
   * The message that showed the gap is not pending for its sender, but the missing ones before it
   * may be; left live, the sender's session would get the next seq pushed and acknowledge past them.
   */
  private catchUpUsers(recipients: readonly Recipient[], senderId: number): void {
    for (const userId of new Set([senderId, ...recipients.map((r) => r.userId)])) {
      for (const s of this.d.hub.sessionsOf(userId)) this.d.delivery.catchUp(s);
    }
  }

  /** Doorbells of one conversation are applied in arrival order, although their reads overlap others'. */
  private chain(conversationId: number, step: () => Promise<void> | undefined): void {
    const prev = this.chains.get(conversationId) ?? Promise.resolve();
    const next = prev.then(step).catch((err: unknown) => {
      this.d.log.error('doorbell handling failed', { error: toSecureChatError(err).message });
    });
    this.chains.set(conversationId, next);
    void next.then(() => {
      if (this.chains.get(conversationId) === next) this.chains.delete(conversationId);
    });
  }
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

/** The doorbell's recipients as [user id, username] pairs, or null when malformed. */
function parseRecipients(r: unknown): Recipient[] | null {
  if (!Array.isArray(r)) return null;
  const out: Recipient[] = [];
  for (const e of r) {
    if (!Array.isArray(e) || !isId(e[0]) || typeof e[1] !== 'string') return null;
    out.push({ userId: e[0], username: e[1] });
  }
  return out;
}
