/**
 * The cluster interfaces (DESIGN.md §5). The database stays the log; what goes through these is
 * either a doorbell (the bus: "conversation 42 reached seq 1017") or short-lived shared state with a
 * TTL (presence leases, throttling counters, the handshake replay cache). Every implementation
 * (memory, Redis, NATS) passes test/contract/cluster.contract.ts.
 *
 * Failure contract: every method rejects with SecureChatError('cluster_unavailable') when the
 * backend cannot be reached — quickly, never hanging — and the callers degrade (log + metric).
 */
import type { EventEmitter } from 'node:events';

/** A bus message: a small JSON object. */
export type BusMessage = Record<string, unknown>;
export type BusHandler = (message: BusMessage) => void;

export interface EventBus {
  /** Delivers `message` to every subscriber of `topic` (this node's included), at most once. */
  publish(topic: string, message: BusMessage): Promise<void>;
  /** Resolves once the subscription is active; the returned function ends it. */
  subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>>;
}

/** One logged-in session as the rest of the cluster sees it. */
export interface PresenceEntry {
  node: string;
  session: string;
  userId: number;
  uuid: string;
  username: string;
  ip: string;
}

/**
 * user → sessions per node, under a lease per node: a node that stops refreshing (crashed, cut off)
 * disappears from `list()` once `ttlMs` has passed since its last refresh.
 */
export interface PresenceDirectory {
  /** Adds (or replaces) one of this node's sessions; also renews the node's lease. */
  put(entry: PresenceEntry, ttlMs: number): Promise<void>;
  remove(node: string, session: string): Promise<void>;
  /** Renews the node's lease (and its sessions) for another `ttlMs`. */
  refresh(node: string, ttlMs: number): Promise<void>;
  /** Drops every session of the node at once (clean shutdown). */
  clear(node: string): Promise<void>;
  /** Every session of every node whose lease is alive. */
  list(): Promise<PresenceEntry[]>;
}

/** Counters with a TTL that starts at the first increment (fixed windows). */
export interface SharedCounters {
  /** Adds `by` (default 1) and returns the new value; a new (or expired) key starts at 0 and lives `ttlMs`. */
  incr(key: string, ttlMs: number, by?: number): Promise<number>;
  /** The current value (0 when absent or expired). */
  get(key: string): Promise<number>;
  reset(key: string): Promise<void>;
}

/** Keys with a TTL: single-use markers (replay cache, tickets) and blocks (throttling). */
export interface SharedSet {
  /** Adds the key for `ttlMs` if absent; true when this call added it (the first one wins cluster-wide). */
  addIfAbsent(key: string, ttlMs: number): Promise<boolean>;
  /** Adds the key or replaces its TTL. */
  put(key: string, ttlMs: number): Promise<void>;
  /** Milliseconds the key has left (0 when absent or expired). */
  remainingMs(key: string): Promise<number>;
  delete(key: string): Promise<void>;
}

/**
 * Small values written once under a TTL: the first writer wins cluster-wide and every node reads
 * the same value (the shared ticket keys, sealed before they are stored: cluster/ticket-keys.ts).
 */
export interface SharedValues {
  /** Stores `value` for `ttlMs` unless a live value is there; resolves with the value there now (this one or the earlier). */
  putIfAbsent(key: string, value: string, ttlMs: number): Promise<string>;
  /** The live value, or null. */
  get(key: string): Promise<string | null>;
}

/**
 * One connection to a backend: the five interfaces plus health. Emits 'down' (with an Error) when
 * the backend becomes unreachable and 'up' when it is back (subscriptions restored: doorbells may
 * have been missed in between, so listeners catch up from the database).
 */
export interface ClusterBackend extends EventEmitter {
  readonly kind: 'memory' | 'redis' | 'nats';
  /** Keeps clusters that share one bus apart (key prefix / bucket names). */
  readonly namespace: string;
  readonly bus: EventBus;
  readonly presence: PresenceDirectory;
  readonly counters: SharedCounters;
  readonly set: SharedSet;
  readonly values: SharedValues;
  /** Whether the backend is reachable right now. */
  readonly healthy: boolean;
  close(): Promise<void>;
}
