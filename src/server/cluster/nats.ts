/**
 * NATS implementation (the official `nats` client): core pub/sub for the bus, JetStream KV for the
 * shared state. KV on NATS 2.9 has one TTL per bucket, not per key, so every value carries its own
 * expiry (`exp`, ms) and updates are compare-and-set on the key's revision: `addIfAbsent` is a KV
 * `create` (or a CAS over an expired value), `incr` a CAS loop. The buckets' own max age only
 * garbage-collects what nobody touched for a day. Presence: a lease key per node (`n.<node>`, its
 * expiry) and a key per session (`s.<node>.<session>`); `list` reads the keys of live nodes.
 *
 * Bounded time: every call runs under a deadline (`deadlineMs`, default twice the request timeout)
 * and rejects with cluster_unavailable (reason `timeout`) when it passes. Keys are listed with one
 * STREAM.INFO request (`subjects_filter`), never with `kv.keys()`: that iterator is an ordered push
 * consumer that ends only when a delivered message reports 0 pending, and a key rewritten while it
 * runs (a lease refresh every lease/3) can leave it waiting for a message that never comes — the
 * hang behind the once-skipped presence lease test. Removed presence keys are purged from the
 * stream (subject and marker gone), so the listing holds live keys only.
 * While disconnected every call fails fast with cluster_unavailable (no buffering for later).
 */
import { EventEmitter } from 'node:events';
import { connect, type JetStreamManager, type KV, type KvEntry, type NatsConnection } from 'nats';
import { SecureChatError } from '../../errors.js';
import { dispatch, parseBusMessage } from './dispatch.js';
import type { BusHandler, BusMessage, ClusterBackend, EventBus, PresenceDirectory, PresenceEntry, SharedCounters, SharedSet, SharedValues } from './types.js';

export interface NatsBackendOptions {
  namespace?: string;
  /** Per request (connect, KV and JetStream API calls), ms. */
  timeoutMs?: number;
  /** Whole operation (a CAS loop is several requests), ms; default 2 × timeoutMs. */
  deadlineMs?: number;
}

const GC_AGE_MS = 24 * 3600_000;
/** The values bucket keeps ticket keys for a rotation plus a ticket lifetime (≤ 25 h): GC after 48 h. */
const VALUES_GC_AGE_MS = 48 * 3600_000;
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
  v?: string;
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

/**
 * A lease that ran out over a minute ago (or an unreadable one): its node is gone, not just late.
 * A key that vanished between the listing and the read is not: that is a node rewriting its
 * presence (clear, then put again, when the bus is back) — taking it for dead erased the entries
 * the node had just written, and its users stayed missing from every listing (the cluster soak).
 */
export function isLongExpired(e: KvEntry | null): boolean {
  if (!e) return false;
  if (e.operation !== 'PUT') return true;
  try {
    const v = JSON.parse(dec.decode(e.value)) as Expiring;
    return typeof v.exp !== 'number' || v.exp < Date.now() - 60_000;
  } catch {
    return true;
  }
}

export class NatsBackend extends EventEmitter implements ClusterBackend {
  readonly kind = 'nats' as const;
  readonly bus: EventBus;
  readonly presence: PresenceDirectory;
  readonly counters: SharedCounters;
  readonly set: SharedSet;
  readonly values: SharedValues;
  readonly ns: string;
  get namespace(): string {
    return this.ns;
  }
  private connected = false;
  private closing = false;

  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly shared: KV,
    readonly presenceKv: KV,
    readonly valuesKv: KV,
    ns: string,
    readonly deadlineMs: number,
  ) {
    super();
    this.ns = ns;
    this.connected = true;
    this.bus = new NatsBus(this);
    this.presence = new NatsPresence(this);
    this.counters = new NatsCounters(this);
    this.set = new NatsSet(this);
    this.values = new NatsValues(this);
    void this.watchStatus();
  }

  /** Connects and opens (creating if needed) the three KV buckets (shared, presence, values); rejects with cluster_unavailable. */
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
      const jsm = await nc.jetstreamManager({ timeout });
      const shared = await js.views.kv(`${ns}_shared`, { history: 1, ttl: GC_AGE_MS, timeout });
      const presenceKv = await js.views.kv(`${ns}_presence`, { history: 1, ttl: GC_AGE_MS, timeout });
      const valuesKv = await js.views.kv(`${ns}_values`, { history: 1, ttl: VALUES_GC_AGE_MS, timeout });
      return new NatsBackend(nc, jsm, shared, presenceKv, valuesKv, ns, options.deadlineMs ?? 2 * timeout);
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

  /** Runs a KV call only while connected (nats.js would otherwise wait for a reconnect), within the deadline. */
  async call<T>(op: () => Promise<T>): Promise<T> {
    this.assertUp();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SecureChatError('cluster_unavailable', `NATS: no answer within ${this.deadlineMs} ms`, { reason: 'timeout' })), this.deadlineMs);
    });
    try {
      return await Promise.race([op(), deadline]);
    } catch (err) {
      throw unavailable(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The keys of a KV bucket that hold a message, optionally under a prefix: one STREAM.INFO request. */
  async listKeys(bucket: string, prefix = ''): Promise<string[]> {
    const stream = `KV_${bucket}`;
    const subjectPrefix = `$KV.${bucket}.`;
    const info = await this.jsm.streams.info(stream, { subjects_filter: `${subjectPrefix}${prefix}>` });
    return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(subjectPrefix.length));
  }

  /** Removes a key and its history from the stream (no delete marker left behind). */
  async erase(bucket: string, key: string): Promise<void> {
    await this.jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${key}` });
  }

  get presenceBucket(): string {
    return `${this.ns}_presence`;
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

  /** Removes the buckets (tests). */
  async destroy(): Promise<void> {
    await this.shared.destroy().catch(() => undefined);
    await this.presenceKv.destroy().catch(() => undefined);
    await this.valuesKv.destroy().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.nc.isClosed()) return;
    // drain() waits for a reconnect while the server is away: bounded, then a plain close.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.deadlineMs);
    });
    const drained = await Promise.race([this.nc.drain().then(() => 'ok' as const, () => 'late' as const), late]);
    clearTimeout(timer);
    if (drained === 'late') await this.nc.close().catch(() => undefined);
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
    try {
      await this.b.call(() => this.b.nc.flush());
    } catch (err) {
      sub.unsubscribe();
      throw err;
    }
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
    return this.b.call(() => this.b.erase(this.b.presenceBucket, `s.${token(node)}.${token(session)}`));
  }

  refresh(node: string, ttlMs: number): Promise<void> {
    return this.b.call(async () => {
      await this.lease(node, ttlMs);
    });
  }

  clear(node: string): Promise<void> {
    return this.b.call(async () => {
      // Sessions first: a lease without sessions lists nothing, sessions without a lease neither.
      await this.b.erase(this.b.presenceBucket, `s.${token(node)}.>`);
      await this.b.erase(this.b.presenceBucket, `n.${token(node)}`);
    });
  }

  list(): Promise<PresenceEntry[]> {
    return this.b.call(async () => {
      const kv = this.b.presenceKv;
      const keys = await this.b.listKeys(this.b.presenceBucket);
      const alive = new Set<string>();
      const dead: string[] = [];
      await Promise.all(
        keys
          .filter((k) => k.startsWith('n.'))
          .map(async (k) => {
            const e = await kv.get(k);
            if (readExpiring(e)) alive.add(k.slice(2));
            else if (isLongExpired(e)) dead.push(k.slice(2));
          }),
      );
      // A node dead for a while (restarts with new ids leave these behind): erase it, so listings
      // stay proportional to live nodes. Best effort; its lease is long past, so no race with a refresh.
      for (const node of dead) {
        void this.b.erase(this.b.presenceBucket, `s.${node}.>`).then(() => this.b.erase(this.b.presenceBucket, `n.${node}`)).catch(() => undefined);
      }
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

class NatsValues implements SharedValues {
  constructor(private readonly b: NatsBackend) {}

  private key(k: string): string {
    return `v.${token(k)}`;
  }

  putIfAbsent(key: string, value: string, ttlMs: number): Promise<string> {
    return this.b.call(() =>
      casLoop(this.b.valuesKv, this.key(key), (cur) =>
        cur && typeof cur.v === 'string' ? { next: null, result: cur.v } : { next: { v: value, exp: Date.now() + ttlMs }, result: value },
      ),
    );
  }

  get(key: string): Promise<string | null> {
    return this.b.call(async () => {
      const v = readExpiring(await this.b.valuesKv.get(this.key(key)));
      return typeof v?.v === 'string' ? v.v : null;
    });
  }
}
