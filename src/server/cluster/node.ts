/**
 * One node of a cluster: wires the backend (cluster/types.ts) into this process's hub, delivery,
 * group-member cache and account watcher, over one bus topic. What each message means:
 *   msg      doorbell: a message was stored (doorbell.ts)
 *   hb       heartbeat: the number of the sender's latest doorbell (lost-doorbell detection)
 *   ack      a recipient's cursor advanced: "delivered" receipts for senders tracked elsewhere
 *   push     an ephemeral push (group_event, delivered) for users' sessions on other nodes
 *   members  a group's membership changed: drop it from the member cache
 *   presence a node's sessions changed: read the directory now
 *   account  credentials changed here: poll the account event log now (the database stays the
 *            channel; this only shortens the delay)
 *   urate    what each user spent of the per-user request budget here since the last one
 * Bus failures never throw out of here: each is logged and counted (failures.ts), and delivery falls
 * back to reading the database.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { toSecureChatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { AppMessage } from '../../protocol/types.js';
import type { Storage } from '../../storage/types.js';
import type { AccountWatcher } from '../account-events.js';
import type { Delivery } from '../delivery.js';
import type { GroupMembers } from '../group-members.js';
import type { Hub } from '../hub.js';
import { Doorbell, type DoorbellMessage, type HeartbeatMessage } from './doorbell.js';
import { BusFailures, NULL_CLUSTER_OBSERVER, type ClusterObserver } from './failures.js';
import { PresenceView } from './presence-view.js';
import type { SharedTicketKeys } from './ticket-keys.js';
import type { UserRates } from '../user-rate.js';
import type { BusMessage, ClusterBackend } from './types.js';

export interface ClusterTimings {
  /** Presence lease: a dead node's users are offline after at most this plus pollMs. */
  leaseMs: number;
  /** How often the presence directory is read. */
  presencePollMs: number;
  /** Heartbeat interval: bounds the delay of a lost doorbell while the bus is up. */
  heartbeatMs: number;
  /** While the bus is down, every local session re-reads the database this often. */
  catchupMs: number;
  /** How often a node tells the others what each user spent of the per-user request budget. */
  userRateSyncMs: number;
}

export const DEFAULT_CLUSTER_TIMINGS: ClusterTimings = { leaseMs: 6000, presencePollMs: 1000, heartbeatMs: 1000, catchupMs: 5000, userRateSyncMs: 250 };

/** Users per `urate` message: one bus message stays small however many users are busy. */
const URATE_CHUNK = 500;

export interface ClusterNodeDeps {
  backend: ClusterBackend;
  nodeId: string;
  storage: Storage;
  hub: Hub;
  delivery: Delivery;
  members: GroupMembers;
  accountEvents: AccountWatcher;
  log: Logger;
  observer?: ClusterObserver;
  timings?: Partial<ClusterTimings>;
}

const TOPIC = 'events';

export class ClusterNode extends EventEmitter {
  readonly nodeId: string;
  readonly backend: ClusterBackend;
  readonly failures: BusFailures;
  readonly presence: PresenceView;
  readonly doorbell: Doorbell;
  readonly timings: ClusterTimings;
  /** When the bus went down (null: up). */
  downSince: number | null = null;
  private readonly observer: ClusterObserver;
  private readonly log: Logger;
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => Promise<void>) | null = null;
  /** Session-ticket keys shared over the cluster (set when the node has a cluster secret). */
  ticketKeys: SharedTicketKeys | null = null;
  /** The server's per-user request budgets, whose spending the nodes share (user-rate.ts). */
  userRates: UserRates | null = null;
  private stopped = false;

  constructor(private readonly d: ClusterNodeDeps) {
    super();
    this.nodeId = d.nodeId;
    this.backend = d.backend;
    this.log = d.log;
    this.observer = d.observer ?? NULL_CLUSTER_OBSERVER;
    this.timings = { ...DEFAULT_CLUSTER_TIMINGS, ...d.timings };
    this.failures = new BusFailures(d.log, this.observer);
    this.presence = new PresenceView(d.backend.presence, d.hub, this.failures, d.log, {
      nodeId: d.nodeId,
      leaseMs: this.timings.leaseMs,
      pollMs: this.timings.presencePollMs,
    });
    this.doorbell = new Doorbell({
      storage: d.storage, hub: d.hub, delivery: d.delivery, log: d.log, failures: this.failures, observer: this.observer,
      nodeId: d.nodeId, incarnation: randomBytes(6).toString('hex'),
      publish: (msg, op) => this.publish(msg, op),
    });
  }

  get degraded(): boolean {
    return this.downSince !== null;
  }

  /** Subscribes and plugs into the hub, delivery and caches; rejects (cluster_unavailable) if the bus is unreachable now. */
  async start(): Promise<void> {
    const { hub, delivery, members, accountEvents } = this.d;
    this.unsubscribe = await this.backend.bus.subscribe(TOPIC, (m) => this.onMessage(m));
    await this.presence.start();
    await this.ticketKeys?.start();
    hub.remote = {
      changed: (session, status) => {
        this.presence.changed(session, status);
        this.publish({ t: 'presence', node: this.nodeId }, 'presence');
      },
      push: (userIds, msg, exceptSession) => this.publish({ t: 'push', node: this.nodeId, u: userIds, m: msg, ...(exceptSession ? { x: exceptSession } : {}) }, 'push'),
      isOnline: (userId) => this.presence.isOnline(userId),
      online: () => this.presence.everyone(),
    };
    delivery.stored = (view, recipients) => this.doorbell.stored(view, recipients);
    delivery.acked = (c, u, name, upto) => this.publish({ t: 'ack', node: this.nodeId, c, u, name, upto }, 'ack');
    members.invalidated = (c) => this.publish({ t: 'members', node: this.nodeId, c }, 'members');
    members.cacheable = () => !this.degraded;
    accountEvents.changedHere = () => this.publish({ t: 'account', node: this.nodeId }, 'account');
    this.backend.on('down', (err: Error) => this.onDown(err));
    this.backend.on('up', () => this.onUp());
    this.observer.clusterHealth(true);
    const hb = setInterval(() => {
      this.publish(this.doorbell.heartbeat(), 'heartbeat');
      this.doorbell.checkPeers(3 * this.timings.heartbeatMs);
    }, this.timings.heartbeatMs);
    const sweep = setInterval(() => {
      if (this.degraded) this.doorbell.catchUpAll('bus_down');
    }, this.timings.catchupMs);
    const urate = setInterval(() => this.publishUserSpending(), this.timings.userRateSyncMs);
    hb.unref();
    sweep.unref();
    urate.unref();
    this.timers.push(hb, sweep, urate);
    this.log.info(`cluster: node ${this.nodeId} joined over ${this.backend.kind}`, { node: this.nodeId, bus: this.backend.kind });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.ticketKeys?.stop();
    await this.presence.stop();
    await this.unsubscribe?.().catch(() => undefined);
    this.failures.stop();
    await this.backend.close().catch(() => undefined);
  }

  /** Fire and forget: a failure is logged and counted, never thrown (the database has the truth). */
  private publish(msg: BusMessage, op: string): void {
    if (this.stopped) return;
    let p: Promise<void>;
    try {
      p = this.backend.bus.publish(TOPIC, msg);
    } catch (err) {
      this.failures.failed(op, toSecureChatError(err));
      return;
    }
    p.catch((err: unknown) => this.failures.failed(op, toSecureChatError(err)));
  }

  /** One `urate` message per URATE_CHUNK users who spent anything since the last one. */
  private publishUserSpending(): void {
    if (!this.userRates?.enabled) return;
    const spent = [...this.userRates.drainSpent()];
    for (let i = 0; i < spent.length; i += URATE_CHUNK) {
      this.publish({ t: 'urate', node: this.nodeId, s: Object.fromEntries(spent.slice(i, i + URATE_CHUNK)) }, 'user_rate');
    }
  }

  private onDown(err: Error): void {
    if (this.downSince !== null || this.stopped) return;
    this.downSince = Date.now();
    this.d.members.clear();
    this.observer.clusterHealth(false);
    this.log.error(`cluster bus down: delivery across nodes degrades to a database catch-up every ${this.timings.catchupMs} ms`, { bus: this.backend.kind, error: err.message });
    this.emit('degraded');
  }

  private onUp(): void {
    if (this.downSince === null || this.stopped) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = null;
    this.d.members.clear();
    this.observer.clusterHealth(true);
    this.log.info('cluster bus back: catching up', { bus: this.backend.kind, downMs });
    void this.presence.rewrite().then(() => this.presence.refresh());
    this.doorbell.catchUpAll('bus_up');
    void this.d.accountEvents.pollNow();
    this.emit('recovered');
  }

  private onMessage(m: BusMessage): void {
    if (m.node === this.nodeId) return;
    switch (m.t) {
      case 'msg':
        return this.doorbell.received(m as DoorbellMessage);
      case 'hb':
        return this.doorbell.heartbeatReceived(m as HeartbeatMessage);
      case 'ack':
        if (typeof m.c === 'number' && typeof m.u === 'number' && typeof m.upto === 'number') this.d.delivery.receiptsFor(m.c, m.u, String(m.name), m.upto);
        return;
      case 'push':
        if (Array.isArray(m.u) && m.m && typeof m.m === 'object') this.d.hub.sendLocal(m.u as number[], m.m as AppMessage, typeof m.x === 'string' ? m.x : undefined);
        return;
      case 'members':
        if (typeof m.c === 'number') this.d.members.invalidateLocal(m.c);
        return;
      case 'presence':
        void this.presence.refresh();
        return;
      case 'account':
        void this.d.accountEvents.pollNow();
        return;
      case 'urate':
        if (m.s && typeof m.s === 'object') {
          for (const [user, n] of Object.entries(m.s as Record<string, unknown>)) if (typeof n === 'number') this.userRates?.spentElsewhere(user, n);
        }
        return;
      default:
        return;
    }
  }
}
