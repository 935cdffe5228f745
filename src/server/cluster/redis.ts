/**
 * Redis (ioredis) implementation: PUBLISH/SUBSCRIBE for the bus (a second connection, as Redis
 * requires), a hash per node with PEXPIRE as its presence lease, INCRBY + PEXPIRE (one Lua call) for
 * counters, SET NX PX for the set. Commands fail fast while Redis is away (no offline queue, a short
 * command timeout) and ioredis reconnects with backoff; 'down' / 'up' report the transitions.
 * Every key starts with `<namespace>:` so several clusters (or test runs) can share one Redis.
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { SecureChatError } from '../../errors.js';
import { dispatch, parseBusMessage } from './dispatch.js';
import type { BusHandler, BusMessage, ClusterBackend, EventBus, PresenceDirectory, PresenceEntry, SharedCounters, SharedSet, SharedValues } from './types.js';

export interface RedisBackendOptions {
  namespace?: string;
  /** Per-command timeout, ms: a stuck Redis must not stall a handshake or a login for long. */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
}

const INCR_WITH_TTL = `local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`;

const PUT_IF_ABSENT = `local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`;

/**
 * Redis errors become cluster_unavailable (the message says why, never a secret: no URL, no
 * password). ioredis times out each command (commandTimeout); the deadline here bounds the whole
 * call as well (a MULTI, a pipeline), so nothing waits on Redis for longer than `deadlineMs`.
 */
async function guard<T>(op: Promise<T>, deadlineMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SecureChatError('cluster_unavailable', `Redis: no answer within ${deadlineMs} ms`, { reason: 'timeout' })), deadlineMs);
  });
  try {
    return await Promise.race([op, deadline]);
  } catch (err) {
    if (err instanceof SecureChatError) throw err;
    throw new SecureChatError('cluster_unavailable', `Redis: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

export class RedisBackend extends EventEmitter implements ClusterBackend {
  readonly kind = 'redis' as const;
  readonly bus: EventBus;
  readonly presence: PresenceDirectory;
  readonly counters: SharedCounters;
  readonly set: SharedSet;
  readonly values: SharedValues;
  readonly cmd: Redis;
  readonly sub: Redis;
  readonly ns: string;
  get namespace(): string {
    return this.ns;
  }
  private readonly handlers = new Map<string, Set<BusHandler>>();
  private up = { cmd: false, sub: false };
  private wasHealthy = false;
  private closing = false;
  private readonly deadlineMs: number;

  constructor(url: string, options: RedisBackendOptions = {}) {
    super();
    this.deadlineMs = 2 * (options.commandTimeoutMs ?? 2000);
    const parsed = new URL(url);
    this.ns = options.namespace ?? parsed.searchParams.get('namespace') ?? 'securechat';
    parsed.searchParams.delete('namespace');
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      // Back off to once a second: a Redis restart is noticed quickly, a long outage costs little.
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
    };
    this.cmd = new Redis(parsed.toString(), common);
    // The subscriber needs its SUBSCRIBE commands replayed after a reconnect (autoResubscribe).
    this.sub = new Redis(parsed.toString(), { ...common, commandTimeout: undefined, enableOfflineQueue: true, maxRetriesPerRequest: null });
    for (const [name, conn] of [['cmd', this.cmd], ['sub', this.sub]] as const) {
      conn.on('ready', () => this.mark(name, true));
      conn.on('close', () => this.mark(name, false));
      // ioredis also emits 'error' for every failed reconnect; the 'down' event carries the first.
      conn.on('error', (err: Error) => {
        if (this.wasHealthy) this.lastError = err;
      });
    }
    this.sub.on('message', (channel: string, text: string) => {
      const set = this.handlers.get(channel);
      if (!set) return;
      const msg = parseBusMessage(text);
      if (msg) for (const h of set) dispatch(h, msg);
    });
    this.bus = new RedisBus(this);
    this.presence = new RedisPresence(this);
    this.counters = new RedisCounters(this);
    this.set = new RedisSet(this);
    this.values = new RedisValues(this);
  }

  private lastError: Error | null = null;

  /** See guard(): cluster_unavailable on an error or past the deadline (twice the command timeout). */
  guard<T>(op: Promise<T>): Promise<T> {
    return guard(op, this.deadlineMs);
  }

  get healthy(): boolean {
    // After close() the 'end' events may arrive later than quit()'s reply: closing alone means down.
    return !this.closing && this.up.cmd && this.up.sub;
  }

  private mark(which: 'cmd' | 'sub', state: boolean): void {
    this.up[which] = state;
    if (this.closing) return;
    if (this.healthy && !this.wasHealthy) {
      this.wasHealthy = true;
      this.emit('up');
    } else if (!this.healthy && this.wasHealthy) {
      this.wasHealthy = false;
      this.emit('down', this.lastError ?? new Error('connection to Redis lost'));
    }
  }

  /** Connects both connections; resolves either way (a Redis that is down now is retried in the background). */
  async connect(): Promise<void> {
    await Promise.all([this.cmd.connect().catch(() => undefined), this.sub.connect().catch(() => undefined)]);
  }

  key(...parts: string[]): string {
    return [this.ns, ...parts].join(':');
  }

  channel(topic: string): string {
    return this.key('bus', topic);
  }

  handlersOf(channel: string): Set<BusHandler> | undefined {
    return this.handlers.get(channel);
  }

  async addHandler(channel: string, handler: BusHandler): Promise<void> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      try {
        await this.guard(this.sub.subscribe(channel));
      } catch (err) {
        this.handlers.delete(channel);
        throw err;
      }
    }
    set.add(handler);
  }

  async removeHandler(channel: string, handler: BusHandler): Promise<void> {
    const set = this.handlers.get(channel);
    if (!set?.delete(handler) || set.size > 0) return;
    this.handlers.delete(channel);
    if (this.sub.status === 'ready') await this.sub.unsubscribe(channel).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.handlers.clear();
    // quit() waits for Redis's reply: bounded, then the sockets are simply dropped.
    const quit = (c: Redis): Promise<void> => guard(c.quit(), this.deadlineMs).then(() => undefined, () => c.disconnect());
    await Promise.all([quit(this.cmd), quit(this.sub)]);
  }
}

class RedisBus implements EventBus {
  constructor(private readonly r: RedisBackend) {}

  async publish(topic: string, message: BusMessage): Promise<void> {
    await this.r.guard(this.r.cmd.publish(this.r.channel(topic), JSON.stringify(message)));
  }

  async subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>> {
    const channel = this.r.channel(topic);
    const wrapped: BusHandler = (m) => handler(m);
    await this.r.addHandler(channel, wrapped);
    return () => this.r.removeHandler(channel, wrapped);
  }
}

class RedisPresence implements PresenceDirectory {
  constructor(private readonly r: RedisBackend) {}

  private nodeKey(node: string): string {
    return this.r.key('presence', node);
  }

  async put(entry: PresenceEntry, ttlMs: number): Promise<void> {
    const k = this.nodeKey(entry.node);
    await this.r.guard(this.r.cmd.multi().hset(k, entry.session, JSON.stringify(entry)).pexpire(k, ttlMs).sadd(this.r.key('presence-nodes'), entry.node).exec());
  }

  async remove(node: string, session: string): Promise<void> {
    await this.r.guard(this.r.cmd.hdel(this.nodeKey(node), session));
  }

  async refresh(node: string, ttlMs: number): Promise<void> {
    await this.r.guard(this.r.cmd.pexpire(this.nodeKey(node), ttlMs));
  }

  async clear(node: string): Promise<void> {
    await this.r.guard(this.r.cmd.multi().del(this.nodeKey(node)).srem(this.r.key('presence-nodes'), node).exec());
  }

  async list(): Promise<PresenceEntry[]> {
    const nodes = await this.r.guard(this.r.cmd.smembers(this.r.key('presence-nodes')));
    if (nodes.length === 0) return [];
    const pipeline = this.r.cmd.pipeline();
    for (const n of nodes) pipeline.hgetall(this.nodeKey(n));
    const results = (await this.r.guard(pipeline.exec())) ?? [];
    const out: PresenceEntry[] = [];
    const gone: string[] = [];
    results.forEach(([err, value], i) => {
      if (err) throw new SecureChatError('cluster_unavailable', `Redis: ${err.message}`);
      const fields = Object.values((value ?? {}) as Record<string, string>);
      // An expired lease took the hash with it: forget the node (it re-adds itself when it puts again).
      if (fields.length === 0) gone.push(nodes[i]);
      for (const f of fields) {
        try {
          out.push(JSON.parse(f) as PresenceEntry);
        } catch {
          // A malformed entry is skipped, not fatal.
        }
      }
    });
    if (gone.length > 0) void this.r.cmd.srem(this.r.key('presence-nodes'), ...gone).catch(() => undefined);
    return out;
  }
}

class RedisCounters implements SharedCounters {
  constructor(private readonly r: RedisBackend) {}

  async incr(key: string, ttlMs: number, by = 1): Promise<number> {
    const n = await this.r.guard(this.r.cmd.eval(INCR_WITH_TTL, 1, this.r.key('n', key), by, Math.max(1, Math.ceil(ttlMs))));
    return Number(n);
  }

  async get(key: string): Promise<number> {
    return Number((await this.r.guard(this.r.cmd.get(this.r.key('n', key)))) ?? 0);
  }

  async reset(key: string): Promise<void> {
    await this.r.guard(this.r.cmd.del(this.r.key('n', key)));
  }
}

class RedisSet implements SharedSet {
  constructor(private readonly r: RedisBackend) {}

  async addIfAbsent(key: string, ttlMs: number): Promise<boolean> {
    return (await this.r.guard(this.r.cmd.set(this.r.key('s', key), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'))) === 'OK';
  }

  async put(key: string, ttlMs: number): Promise<void> {
    await this.r.guard(this.r.cmd.set(this.r.key('s', key), '1', 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async remainingMs(key: string): Promise<number> {
    return Math.max(0, Number(await this.r.guard(this.r.cmd.pttl(this.r.key('s', key)))));
  }

  async delete(key: string): Promise<void> {
    await this.r.guard(this.r.cmd.del(this.r.key('s', key)));
  }
}

class RedisValues implements SharedValues {
  constructor(private readonly r: RedisBackend) {}

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<string> {
    return String(await this.r.guard(this.r.cmd.eval(PUT_IF_ABSENT, 1, this.r.key('v', key), value, Math.max(1, Math.ceil(ttlMs)))));
  }

  async get(key: string): Promise<string | null> {
    return this.r.guard(this.r.cmd.get(this.r.key('v', key)));
  }
}
