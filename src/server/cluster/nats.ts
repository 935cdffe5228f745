/**
 * NATS implementation (the official `nats` client): core pub/sub for the bus, JetStream KV for the
 * shared state. KV on NATS 2.9 has one TTL per bucket, not per key, so every value carries its own
 * expiry (`exp`, ms) and updates are compare-and-set on the key's revision: `addIfAbsent` is a KV
 * `create` (or a CAS over an expired value), `incr` a CAS loop. The buckets' own max age only
 * garbage-collects what nobody touched for a day. Presence: a lease key per node (`n.<node>`, its
 * expiry) and a key per session (`s.<node>.<session>`); `list` reads the keys of live nodes.
 * While disconnected every call fails fast with cluster_unavailable (no buffering for later).
 */
import { EventEmitter } from 'node:events';
import { connect, type KV, type KvEntry, type NatsConnection } from 'nats';
import { SecureChatError } from '../../errors.js';
import { dispatch, parseBusMessage } from './dispatch.js';
import type { BusHandler, BusMessage, ClusterBackend, EventBus, PresenceDirectory, PresenceEntry, SharedCounters, SharedSet } from './types.js';

export interface NatsBackendOptions {
  namespace?: string;
  timeoutMs?: number;
}

const GC_AGE_MS = 24 * 3600_000;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** KV keys are subject tokens: anything else is base64url-encoded. */
function token(s: string): string {
  return /^[A-Za-z0-9_-]{1,200}$/.test(s) ? s : '=' + Buffer.from(s).toString('base64url');
}

function unavailable(err: unknown): SecureChatError {
  return err instanceof SecureChatError ? err : new SecureChatError('cluster_unavailable', `NATS: ${(err as Error).message}`, { cause: err });
}

interface Expiring {
  n?: number;
  exp: number;
}

function readExpiring(e: KvEntry | null): Expiring | null {
  if (!e || e.operation !== 'PUT') return null;
  try {
    const v = JSON.parse(dec.decode(e.value)) as Expiring;
    return typeof v.exp === 'number' && v.exp > Date.now() ? v : null;
  } catch {
    return null;
  }
}

export class NatsBackend extends EventEmitter implements ClusterBackend {
  readonly kind = 'nats' as const;
  readonly bus: EventBus;
  readonly presence: PresenceDirectory;
  readonly counters: SharedCounters;
  readonly set: SharedSet;
  readonly ns: string;
  private connected = false;
  private closing = false;

  private constructor(
    readonly nc: NatsConnection,
    readonly shared: KV,
    readonly presenceKv: KV,
    ns: string,
  ) {
    super();
    this.ns = ns;
    this.connected = true;
    this.bus = new NatsBus(this);
    this.presence = new NatsPresence(this);
    this.counters = new NatsCounters(this);
    this.set = new NatsSet(this);
    void this.watchStatus();
  }

  /** Connects and opens (creating if needed) the two KV buckets; rejects with cluster_unavailable. */
  static async open(url: string, options: NatsBackendOptions = {}): Promise<NatsBackend> {
    const parsed = new URL(url);
    const ns = token(options.namespace ?? parsed.searchParams.get('namespace') ?? 'securechat');
    const timeout = options.timeoutMs ?? 2000;
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({
        servers: `${parsed.hostname}:${parsed.port || 4222}`,
        ...(parsed.username ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } : {}),
        timeout,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        name: `securechat-${ns}`,
      });
      const js = nc.jetstream({ timeout });
      const shared = await js.views.kv(`${ns}_shared`, { history: 1, ttl: GC_AGE_MS, timeout });
      const presenceKv = await js.views.kv(`${ns}_presence`, { history: 1, ttl: GC_AGE_MS, timeout });
      return new NatsBackend(nc, shared, presenceKv, ns);
    } catch (err) {
      await nc?.close().catch(() => undefined);
      throw unavailable(err);
    }
  }

  get healthy(): boolean {
    return !this.closing && this.connected && !this.nc.isClosed();
  }

  assertUp(): void {
    if (!this.healthy) throw new SecureChatError('cluster_unavailable', 'NATS: disconnected');
  }

  /** Runs a KV call only while connected (nats.js would otherwise wait for a reconnect). */
  async call<T>(op: () => Promise<T>): Promise<T> {
    this.assertUp();
    try {
      return await op();
    } catch (err) {
      throw unavailable(err);
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closing) return;
      if (s.type === 'disconnect' && this.connected) {
        this.connected = false;
        this.emit('down', new Error('connection to NATS lost'));
      } else if (s.type === 'reconnect' && !this.connected) {
        this.connected = true;
        this.emit('up');
      }
    }
  }

  /** Removes both buckets (tests). */
  async destroy(): Promise<void> {
    await this.shared.destroy().catch(() => undefined);
    await this.presenceKv.destroy().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

class NatsBus implements EventBus {
  constructor(private readonly b: NatsBackend) {}

  private subject(topic: string): string {
    return `${this.b.ns}.bus.${token(topic)}`;
  }

  async publish(topic: string, message: BusMessage): Promise<void> {
    this.b.assertUp();
    try {
      this.b.nc.publish(this.subject(topic), enc.encode(JSON.stringify(message)));
    } catch (err) {
      throw unavailable(err);
    }
  }

  async subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>> {
    this.b.assertUp();
    const sub = this.b.nc.subscribe(this.subject(topic), {
      callback: (err, msg) => {
        if (err) return;
        const parsed = parseBusMessage(dec.decode(msg.data));
        if (parsed) dispatch(handler, parsed);
      },
    });
    // The server has the subscription once a round trip after it completed.
    await this.b.call(() => this.b.nc.flush());
    return async () => sub.unsubscribe();
  }
}

class NatsPresence implements PresenceDirectory {
  constructor(private readonly b: NatsBackend) {}

  private lease(node: string, ttlMs: number): Promise<number> {
    return this.b.presenceKv.put(`n.${token(node)}`, enc.encode(JSON.stringify({ exp: Date.now() + ttlMs })));
  }

  put(entry: PresenceEntry, ttlMs: number): Promise<void> {
    return this.b.call(async () => {
      await this.b.presenceKv.put(`s.${token(entry.node)}.${token(entry.session)}`, enc.encode(JSON.stringify(entry)));
      await this.lease(entry.node, ttlMs);
    });
  }

  remove(node: string, session: string): Promise<void> {
    return this.b.call(() => this.b.presenceKv.purge(`s.${token(node)}.${token(session)}`));
  }

  refresh(node: string, ttlMs: number): Promise<void> {
    return this.b.call(async () => {
      await this.lease(node, ttlMs);
    });
  }

  clear(node: string): Promise<void> {
    return this.b.call(async () => {
      const prefix = `s.${token(node)}.`;
      const keys: string[] = [];
      for await (const k of await this.b.presenceKv.keys(`${prefix}>`)) keys.push(k);
      await Promise.all(keys.map((k) => this.b.presenceKv.purge(k)));
      await this.b.presenceKv.purge(`n.${token(node)}`);
    });
  }

  list(): Promise<PresenceEntry[]> {
    return this.b.call(async () => {
      const kv = this.b.presenceKv;
      const keys: string[] = [];
      for await (const k of await kv.keys()) keys.push(k);
      const alive = new Set<string>();
      await Promise.all(
        keys
          .filter((k) => k.startsWith('n.'))
          .map(async (k) => {
            if (readExpiring(await kv.get(k))) alive.add(k.slice(2));
          }),
      );
      const out: PresenceEntry[] = [];
      await Promise.all(
        keys
          .filter((k) => k.startsWith('s.') && alive.has(k.split('.')[1]))
          .map(async (k) => {
            const e = await kv.get(k);
            if (!e || e.operation !== 'PUT') return;
            try {
              out.push(JSON.parse(dec.decode(e.value)) as PresenceEntry);
            } catch {
              // skipped
            }
          }),
      );
      return out;
    });
  }
}

/** get → compute → create/update on the revision, retried when another node won the race. */
async function casLoop<T>(kv: KV, key: string, step: (current: Expiring | null) => { next: Expiring | null; result: T }): Promise<T> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const entry = await kv.get(key);
    const current = readExpiring(entry);
    const { next, result } = step(current);
    if (!next) return result;
    const data = enc.encode(JSON.stringify(next));
    try {
      if (!entry || entry.operation !== 'PUT') await kv.create(key, data);
      else await kv.update(key, data, entry.revision);
      return result;
    } catch (err) {
      const msg = (err as Error).message;
      // A lost race: "wrong last sequence" / "key exists". Anything else is an outage.
      if (!/wrong last sequence|exists/i.test(msg)) throw err;
    }
  }
  throw new SecureChatError('cluster_unavailable', 'NATS: too much contention on one key');
}

class NatsCounters implements SharedCounters {
  constructor(private readonly b: NatsBackend) {}

  private key(k: string): string {
    return `n.${token(k)}`;
  }

  incr(key: string, ttlMs: number, by = 1): Promise<number> {
    return this.b.call(() =>
      casLoop(this.b.shared, this.key(key), (cur) => {
        const next = cur ? { n: (cur.n ?? 0) + by, exp: cur.exp } : { n: by, exp: Date.now() + ttlMs };
        return { next, result: next.n };
      }),
    );
  }

  get(key: string): Promise<number> {
    return this.b.call(async () => readExpiring(await this.b.shared.get(this.key(key)))?.n ?? 0);
  }

  reset(key: string): Promise<void> {
    return this.b.call(() => this.b.shared.purge(this.key(key)));
  }
}

class NatsSet implements SharedSet {
  constructor(private readonly b: NatsBackend) {}

  private key(k: string): string {
    return `s.${token(k)}`;
  }

  addIfAbsent(key: string, ttlMs: number): Promise<boolean> {
    return this.b.call(() =>
      casLoop(this.b.shared, this.key(key), (cur) => (cur ? { next: null, result: false } : { next: { exp: Date.now() + ttlMs }, result: true })),
    );
  }

  put(key: string, ttlMs: number): Promise<void> {
    return this.b.call(async () => {
      await this.b.shared.put(this.key(key), enc.encode(JSON.stringify({ exp: Date.now() + ttlMs })));
    });
  }

  remainingMs(key: string): Promise<number> {
    return this.b.call(async () => {
      const v = readExpiring(await this.b.shared.get(this.key(key)));
      return v ? Math.max(0, v.exp - Date.now()) : 0;
    });
  }

  delete(key: string): Promise<void> {
    return this.b.call(() => this.b.shared.purge(this.key(key)));
  }
}
