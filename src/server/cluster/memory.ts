/**
 * The single-node default: every interface in process memory, zero configuration. Several backends
 * may share one MemoryStore (tests run two "nodes" in one process that way). Expired keys are
 * dropped when touched and by a sweep, so memory stays bounded by what is live.
 */
import { EventEmitter } from 'node:events';
import { SecureChatError } from '../../errors.js';
import { dispatch } from './dispatch.js';
import type { BusHandler, BusMessage, ClusterBackend, EventBus, PresenceDirectory, PresenceEntry, SharedCounters, SharedSet, SharedValues } from './types.js';

interface Timed<V> {
  value: V;
  expiresAt: number;
}

export class MemoryStore {
  readonly topics = new Map<string, Set<BusHandler>>();
  readonly nodes = new Map<string, { expiresAt: number; sessions: Map<string, PresenceEntry> }>();
  readonly counters = new Map<string, Timed<number>>();
  readonly keys = new Map<string, number>();
  readonly values = new Map<string, Timed<string>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 10_000);
    this.sweeper.unref();
  }

  time(): number {
    return this.now();
  }

  sweep(): void {
    const now = this.now();
    for (const [k, v] of this.counters) if (v.expiresAt <= now) this.counters.delete(k);
    for (const [k, at] of this.keys) if (at <= now) this.keys.delete(k);
    for (const [k, v] of this.values) if (v.expiresAt <= now) this.values.delete(k);
    for (const [k, n] of this.nodes) if (n.expiresAt <= now) this.nodes.delete(k);
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}

class MemoryBus implements EventBus {
  constructor(private readonly backend: MemoryBackend) {}

  async publish(topic: string, message: BusMessage): Promise<void> {
    this.backend.assertOpen();
    // Copied through JSON like a real bus, so no subscriber shares (or mutates) the sender's object.
    const json = JSON.stringify(message);
    for (const h of this.backend.store.topics.get(topic) ?? []) {
      queueMicrotask(() => dispatch(h, JSON.parse(json) as BusMessage));
    }
  }

  async subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>> {
    this.backend.assertOpen();
    const topics = this.backend.store.topics;
    let set = topics.get(topic);
    if (!set) topics.set(topic, (set = new Set()));
    // A wrapper per subscription: the same function subscribed twice is two subscriptions.
    const wrapped: BusHandler = (m) => handler(m);
    set.add(wrapped);
    const off = (): void => {
      set.delete(wrapped);
    };
    this.backend.subscriptions.add(off);
    return async () => {
      off();
      this.backend.subscriptions.delete(off);
    };
  }
}

class MemoryPresence implements PresenceDirectory {
  constructor(private readonly backend: MemoryBackend) {}

  private node(node: string, ttlMs: number): Map<string, PresenceEntry> {
    const store = this.backend.store;
    const now = store.time();
    let n = store.nodes.get(node);
    if (!n || n.expiresAt <= now) store.nodes.set(node, (n = { expiresAt: 0, sessions: new Map() }));
    n.expiresAt = now + ttlMs;
    return n.sessions;
  }

  async put(entry: PresenceEntry, ttlMs: number): Promise<void> {
    this.backend.assertOpen();
    this.node(entry.node, ttlMs).set(entry.session, { ...entry });
  }

  async remove(node: string, session: string): Promise<void> {
    this.backend.assertOpen();
    this.backend.store.nodes.get(node)?.sessions.delete(session);
  }

  async refresh(node: string, ttlMs: number): Promise<void> {
    this.backend.assertOpen();
    this.node(node, ttlMs);
  }

  async clear(node: string): Promise<void> {
    this.backend.assertOpen();
    this.backend.store.nodes.delete(node);
  }

  async list(): Promise<PresenceEntry[]> {
    this.backend.assertOpen();
    const now = this.backend.store.time();
    const out: PresenceEntry[] = [];
    for (const n of this.backend.store.nodes.values()) {
      if (n.expiresAt > now) for (const e of n.sessions.values()) out.push({ ...e });
    }
    return out;
  }
}

class MemoryCounters implements SharedCounters {
  constructor(private readonly backend: MemoryBackend) {}

  private live(key: string): Timed<number> | undefined {
    const c = this.backend.store.counters.get(key);
    if (c && c.expiresAt <= this.backend.store.time()) {
      this.backend.store.counters.delete(key);
      return undefined;
    }
    return c;
  }

  async incr(key: string, ttlMs: number, by = 1): Promise<number> {
    this.backend.assertOpen();
    let c = this.live(key);
    if (!c) this.backend.store.counters.set(key, (c = { value: 0, expiresAt: this.backend.store.time() + ttlMs }));
    c.value += by;
    return c.value;
  }

  async get(key: string): Promise<number> {
    this.backend.assertOpen();
    return this.live(key)?.value ?? 0;
  }

  async reset(key: string): Promise<void> {
    this.backend.assertOpen();
    this.backend.store.counters.delete(key);
  }
}

class MemorySet implements SharedSet {
  constructor(private readonly backend: MemoryBackend) {}

  /** Synchronous on purpose: addIfAbsent must test and set without yielding in between. */
  private left(key: string): number {
    this.backend.assertOpen();
    const at = this.backend.store.keys.get(key);
    const left = at === undefined ? 0 : at - this.backend.store.time();
    if (at !== undefined && left <= 0) this.backend.store.keys.delete(key);
    return Math.max(0, left);
  }

  async remainingMs(key: string): Promise<number> {
    return this.left(key);
  }

  async addIfAbsent(key: string, ttlMs: number): Promise<boolean> {
    if (this.left(key) > 0) return false;
    this.backend.store.keys.set(key, this.backend.store.time() + ttlMs);
    return true;
  }

  async put(key: string, ttlMs: number): Promise<void> {
    this.backend.assertOpen();
    this.backend.store.keys.set(key, this.backend.store.time() + ttlMs);
  }

  async delete(key: string): Promise<void> {
    this.backend.assertOpen();
    this.backend.store.keys.delete(key);
  }
}

class MemoryValues implements SharedValues {
  constructor(private readonly backend: MemoryBackend) {}

  /** Synchronous test-and-set, like MemorySet.addIfAbsent. */
  private live(key: string): string | null {
    this.backend.assertOpen();
    const store = this.backend.store;
    const v = store.values.get(key);
    if (v && v.expiresAt <= store.time()) store.values.delete(key);
    return v && v.expiresAt > store.time() ? v.value : null;
  }

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<string> {
    const there = this.live(key);
    if (there !== null) return there;
    this.backend.store.values.set(key, { value, expiresAt: this.backend.store.time() + ttlMs });
    return value;
  }

  async get(key: string): Promise<string | null> {
    return this.live(key);
  }
}

export class MemoryBackend extends EventEmitter implements ClusterBackend {
  readonly kind = 'memory' as const;
  readonly namespace = 'memory';
  readonly bus: EventBus = new MemoryBus(this);
  readonly presence: PresenceDirectory = new MemoryPresence(this);
  readonly counters: SharedCounters = new MemoryCounters(this);
  readonly set: SharedSet = new MemorySet(this);
  readonly values: SharedValues = new MemoryValues(this);
  readonly subscriptions = new Set<() => void>();
  private closed = false;

  constructor(readonly store: MemoryStore = new MemoryStore()) {
    super();
  }

  get healthy(): boolean {
    return !this.closed;
  }

  assertOpen(): void {
    if (this.closed) throw new SecureChatError('cluster_unavailable', undefined, { reason: 'closed' });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const off of this.subscriptions) off();
    this.subscriptions.clear();
  }
}
