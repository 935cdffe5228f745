/**
 * Prometheus metrics of one server process (prom-client, its own Registry so tests and several
 * servers in one process do not share counters). The server core knows only the small
 * `ServerObserver` interface (one call per routed request); everything else is observed from the
 * outside: the server's lifecycle events, a measuring wrapper around the storage, and gauges read
 * at scrape time. Label values come from closed sets (command table, error catalogue), never from
 * what a client sent, so a hostile client cannot blow up the series count.
 */
import type { EventEmitter } from 'node:events';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SecureChatError } from '../errors.js';
import type { Storage } from '../storage/types.js';
import type { ClusterObserver } from './cluster/failures.js';

/** What the router reports per request: the command (or "unknown") and "ok" or the error code. */
export interface ServerObserver {
  request(type: string, code: string): void;
}

/** The parts of the server the metrics read; `SecureChatServer` has them. */
export interface ObservedServer extends EventEmitter {
  readonly sessions: ReadonlySet<{ readonly loggedIn: boolean; readonly channel: { readonly bufferedBytes: number } }>;
}

/** What the server holds of files at a scrape: the budgets a hostile client pushes against. */
export interface FileMemory {
  /** Whole files in memory for downloads and for uploads being stored (≤ maxDownloadBytes). */
  transfers: number;
  /** Just-stored files kept for the downloads after them (≤ recentFilesBytes). */
  recentCache: number;
  /** Unfinished uploads reserved in the spool, on disk (≤ maxSpoolBytes). */
  spooled: number;
}

export interface MetricsOptions {
  /** Seconds until the CRL in force expires (negative once expired), null without a CRL. */
  crlSecondsToExpiry?: () => number | null;
  /** The file budgets in use (absent: no file gauges). */
  fileMemory?: () => FileMemory;
  /** Node's process_* and nodejs_* metrics (RSS among them); default true. */
  processMetrics?: boolean;
}

/** Storage calls that write: their latency includes the commit (group commit for messages). */
export const TIMED_STORAGE_WRITES = [
  'appendMessage', 'markDelivered', 'storeFile', 'createUser', 'setPasswordHash', 'setDisabled', 'recordCertificate',
  'getOrCreateDm', 'createGroup', 'addMember', 'removeMember', 'setRole', 'renameGroup', 'deleteGroup', 'audit',
] as const satisfies readonly (keyof Storage)[];

const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class ServerMetrics implements ServerObserver, ClusterObserver {
  readonly registry = new Registry();
  private readonly handshakes: Counter<'result' | 'reason'>;
  private readonly requests: Counter<'type' | 'code'>;
  private readonly messages: Counter<'kind'>;
  private readonly deliveryAcks: Counter;
  private readonly commits: Histogram<'op'>;
  private readonly servers = new Set<ObservedServer>();
  private readonly clusterFailures: Counter<'op'>;
  private readonly clusterCatchUps: Counter<'reason'>;
  private readonly clusterDoorbells: Counter<'direction'>;
  private readonly clusterUp: Gauge;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const servers = this.servers;
    this.handshakes = new Counter({ name: 'securechat_handshakes_total', help: 'Handshakes by result (ok, failed, refused_by_client) and reason', labelNames: ['result', 'reason'], registers });
    this.requests = new Counter({ name: 'securechat_requests_total', help: 'Requests by command type and result code (ok or an error code)', labelNames: ['type', 'code'], registers });
    this.messages = new Counter({ name: 'securechat_messages_stored_total', help: 'Messages committed to storage, by kind', labelNames: ['kind'], registers });
    this.deliveryAcks = new Counter({ name: 'securechat_delivery_acks_total', help: 'Delivery acknowledgements that advanced a cursor (messages received by a client)', registers });
    this.commits = new Histogram({ name: 'securechat_storage_commit_seconds', help: 'Latency of storage writes, commit included', labelNames: ['op'], buckets: COMMIT_BUCKETS, registers });
    new Gauge({
      name: 'securechat_sessions',
      help: 'Sessions with a completed handshake, by state',
      labelNames: ['state'],
      registers,
      collect() {
        let total = 0;
        let loggedIn = 0;
        for (const server of servers) {
          for (const s of server.sessions) {
            total++;
            if (s.loggedIn) loggedIn++;
          }
        }
        this.set({ state: 'logged_in' }, loggedIn);
        this.set({ state: 'anonymous' }, total - loggedIn);
      },
    });
    new Gauge({
      name: 'securechat_send_queue_bytes',
      help: 'Bytes queued for sending over all sessions (socket backlog)',
      registers,
      collect() {
        let bytes = 0;
        for (const server of servers) for (const s of server.sessions) bytes += s.channel.bufferedBytes;
        this.set(bytes);
      },
    });
    const crl = options.crlSecondsToExpiry;
    if (crl) {
      new Gauge({
        name: 'securechat_crl_seconds_to_expiry',
        help: "Seconds until the CRL's nextUpdate (negative: expired, clients are refused)",
        registers,
        collect() {
          let seconds: number | null = null;
          try {
            seconds = crl();
          } catch {
            // An unreadable CRL file shows as a missing series here and as a failure in /healthz.
          }
          if (seconds === null) this.reset();
          else this.set(seconds);
        },
      });
    }
    const fileMemory = options.fileMemory;
    if (fileMemory) {
      new Gauge({
        name: 'securechat_file_memory_bytes',
        help: 'Bytes of file content in memory, by use: transfers (downloads and uploads being stored, bounded by maxDownloadBytes), recent_cache (bounded by recentFilesBytes)',
        labelNames: ['use'],
        registers,
        collect() {
          const now = fileMemory();
          this.set({ use: 'transfers' }, now.transfers);
          this.set({ use: 'recent_cache' }, now.recentCache);
        },
      });
      new Gauge({
        name: 'securechat_spool_bytes',
        help: 'Bytes reserved by unfinished uploads in the spool on disk (bounded by maxSpoolBytes)',
        registers,
        collect() {
          this.set(fileMemory().spooled);
        },
      });
    }
    this.clusterFailures = new Counter({ name: 'securechat_cluster_failures_total', help: 'Cluster bus operations that failed (the node degraded instead), by operation', labelNames: ['op'], registers });
    this.clusterCatchUps = new Counter({ name: 'securechat_cluster_catchups_total', help: 'Sessions sent to re-read pending messages from the database, by reason (lost_doorbell, peer_silent, bus_down, bus_up)', labelNames: ['reason'], registers });
    this.clusterDoorbells = new Counter({ name: 'securechat_cluster_doorbells_total', help: 'Doorbells (a message was stored) sent to and received from other nodes', labelNames: ['direction'], registers });
    this.clusterUp = new Gauge({ name: 'securechat_cluster_bus_up', help: '1 while the cluster bus is reachable, 0 while degraded (absent on a single node)', registers });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  clusterFailure(op: string): void {
    this.clusterFailures.inc({ op });
  }

  clusterCatchUp(reason: string, sessions: number): void {
    this.clusterCatchUps.inc({ reason }, sessions);
  }

  clusterDoorbell(direction: 'sent' | 'received'): void {
    this.clusterDoorbells.inc({ direction });
  }

  clusterHealth(up: boolean): void {
    this.clusterUp.set(up ? 1 : 0);
  }

  /** ServerObserver: called by the router once per request. */
  request(type: string, code: string): void {
    this.requests.inc({ type, code });
  }

  /** Counts the handshakes and sessions of a server from its events. */
  observeServer(server: ObservedServer): void {
    this.servers.add(server);
    server.on('session', () => this.handshakes.inc({ result: 'ok', reason: '' }));
    server.on('handshakeFailed', (err: SecureChatError) => this.handshakes.inc({ result: 'failed', reason: err.reason ?? err.code }));
    server.on('handshakeRefusedByClient', (err: SecureChatError) => this.handshakes.inc({ result: 'refused_by_client', reason: err.reason ?? err.code }));
  }

  /**
   * The storage with its writes timed and its messages and delivery acks counted. Every method is
   * bound to the real storage, so the wrapper can stand in for it anywhere.
   */
  instrumentStorage<S extends Storage>(storage: S): S {
    const timed = new Set<string | symbol>(TIMED_STORAGE_WRITES);
    // One wrapper per method, made on first use: appendMessage is on the hot path.
    const wrappers = new Map<string | symbol, unknown>();
    const wrap = (prop: string | symbol, method: (...args: unknown[]) => unknown): unknown => {
      if (!timed.has(prop)) return method.bind(storage);
      const op = String(prop);
      return async (...args: unknown[]) => {
        const end = this.commits.startTimer({ op });
        try {
          const result = await method.apply(storage, args);
          this.countWrite(op, result);
          return result;
        } finally {
          end();
        }
      };
    };
    return new Proxy(storage, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        let wrapped = wrappers.get(prop);
        if (!wrapped) wrappers.set(prop, (wrapped = wrap(prop, value as (...args: unknown[]) => unknown)));
        return wrapped;
      },
    });
  }

  private countWrite(op: string, result: unknown): void {
    if (op === 'appendMessage') this.messages.inc({ kind: String((result as { kind?: string }).kind ?? 'unknown') });
    else if (op === 'markDelivered' && result !== null) this.deliveryAcks.inc();
  }

  /** The Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  json(): ReturnType<Registry['getMetricsAsJSON']> {
    return this.registry.getMetricsAsJSON();
  }
}
