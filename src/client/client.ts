/**
 * SecureChatClient: dials a server, completes the mutual-certificate handshake (the server's chain
 * must reach our root, carry serverAuth, and name the host we dialled), then offers request/response
 * with ids and typed push events. The interactive CLI and the scripts sit on this class, never on sockets.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SecureChatError, isErrorCode } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { ParsedCert } from '../pki/cert.js';
import type { GeneralNameValue } from '../pki/general-names.js';
import type { TrustStore } from '../pki/trust-store.js';
import { clientHandshake } from '../protocol/handshake.js';
import { sha256 } from '../protocol/keys.js';
import { parseSessionTickets, type TicketLoginView } from '../protocol/resumption.js';
import type { AppMessage, LocalIdentity, SecureChannel } from '../protocol/types.js';
import { TicketStore, type StoredTicket } from './tickets.js';

export interface ClientOptions {
  host: string;
  port: number;
  /** Name the server certificate must carry in its SAN; defaults to `host`. */
  serverName?: string;
  identity: LocalIdentity;
  trust: TrustStore;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxFrameSize?: number;
  log?: Logger;
  /** How to reach the server; default TCP to host:port. `wsDialer` (ws-dial.ts) dials a WebSocket. */
  dial?: Dialer;
  /** Only for tests of the server's defences. */
  helloOverrides?: Record<string, unknown>;
  /**
   * Session tickets (docs/PROTOCOL.md §9): kept here and used by the next connect to the same
   * server with the same certificate (a resumed handshake); any refusal falls back to a full one.
   * Absent = no resumption.
   */
  tickets?: TicketStore<ServerIdentity>;
  /**
   * Which servers share these tickets (default `host:port`, just this one). The nodes of one cluster
   * with a cluster secret open each other's tickets: a failover client names them all here, so a
   * ticket from one node is offered to the next (docs/CLUSTER.md).
   */
  ticketScope?: string;
}

/** Which tickets fit a connection: the server (or cluster) dialled, its name and the certificate we present. */
export function ticketKey(o: Pick<ClientOptions, 'host' | 'port' | 'serverName' | 'identity' | 'ticketScope'>): string {
  return `${o.ticketScope ?? `${o.host}:${o.port}`}/${o.serverName ?? o.host}/${sha256(o.identity.chain[0]).toString('hex')}`;
}

/** Opens the byte stream the handshake runs over (DESIGN §6: the client's dial takes a transport). */
export type Dialer = (host: string, port: number, timeoutMs: number) => Promise<Duplex>;

export interface ServerIdentity {
  subject: string;
  fingerprint: string;
}

interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (err: SecureChatError) => void;
  timer: NodeJS.Timeout;
}

/** Turns the `error` object of a response or an error record into a SecureChatError. */
export function errorFromWire(raw: unknown): SecureChatError {
  const e = (raw ?? {}) as { code?: unknown; message?: unknown; reason?: unknown; details?: unknown };
  const code = isErrorCode(e.code) ? e.code : 'internal';
  return new SecureChatError(code, typeof e.message === 'string' ? e.message : undefined, {
    ...(typeof e.reason === 'string' ? { reason: e.reason } : {}),
    ...(e.details && typeof e.details === 'object' ? { details: e.details as Record<string, unknown> } : {}),
  });
}

/**
 * The connection's own lifecycle events. Pushes arrive as `push` (type in `msg.type`), never as an
 * event named after their type, so a push called `close` or `error` cannot pose as the connection's.
 */
export interface ConnectionEvents {
  push: [msg: AppMessage, data: Buffer | undefined];
  drain: [];
  close: [err: SecureChatError | undefined];
}

export class SecureChatClient extends EventEmitter<ConnectionEvents> {
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private closeError: SecureChatError | undefined;

  private constructor(
    private readonly channel: SecureChannel<ServerIdentity>,
    private readonly requestTimeoutMs: number,
    private readonly ticketing: { store: TicketStore<ServerIdentity>; key: string; serverNotAfter: number; log: Logger } | undefined,
    /** Set on a resumed connection: the login its ticket carried (null = none). */
    readonly resumedLogin: TicketLoginView | null | undefined,
  ) {
    super();
    channel.on('message', (msg: AppMessage, data?: Buffer) => this.onMessage(msg, data));
    channel.on('drain', () => this.emit('drain'));
    channel.on('close', (err?: SecureChatError) => {
      this.closeError = err;
      const reason = err ?? new SecureChatError('connection_closed');
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(reason);
      }
      this.pending.clear();
      this.emit('close', err);
    });
  }

  /**
   * Connects and completes the handshake; rejects with a SecureChatError (bad_certificate,
   * connect_failed, …). With a ticket for this server in `options.tickets` it resumes first, and
   * on any failure of that attempt dials again for a full handshake.
   */
  static async connect(options: ClientOptions): Promise<SecureChatClient> {
    const log = options.log ?? silentLogger();
    const store = options.tickets;
    const key = store ? ticketKey(options) : '';
    const dial = (): Promise<Duplex> => (options.dial ?? dialTcp)(options.host, options.port, options.connectTimeoutMs ?? 10_000);
    // Dial before taking a ticket: a ticket is single use, and one spent on a connection that never
    // reached the server (a refused or timed-out dial while reconnecting) would be lost for nothing.
    const socket = await dial();
    const offer = store?.take(key);
    if (offer) {
      try {
        return await SecureChatClient.open(options, log, offer, socket);
      } catch (err) {
        const code = (err as SecureChatError).code;
        if (code === 'connection_closed' || code === 'handshake_timeout' || code === 'connect_failed') {
          // The server never answered this hello: keep the ticket for the next reconnect.
          store!.restore(key, offer);
          throw err;
        }
        offer.psk.fill(0);
        log.info('session resumption failed; doing a full handshake', { code, reason: (err as SecureChatError).reason });
      }
      return SecureChatClient.open(options, log, undefined, await dial());
    }
    return SecureChatClient.open(options, log, undefined, socket);
  }

  private static async open(options: ClientOptions, log: Logger, offer: StoredTicket<ServerIdentity> | undefined, socket: Duplex): Promise<SecureChatClient> {
    const expectedName = options.serverName ?? options.host;
    let serverNotAfter = Infinity;
    const channel = await clientHandshake<ServerIdentity>(socket, {
      identity: options.identity,
      verifyPeer: (chain) => {
        try {
          const [leaf] = options.trust.verifyDer(chain, { purpose: 'server', hostname: expectedName });
          serverNotAfter = leaf.notAfter.getTime();
          return identityOf(leaf);
        } catch (err) {
          throw withCertificateNames(err, chain, expectedName);
        }
      },
      timeoutMs: options.handshakeTimeoutMs,
      maxFrameSize: options.maxFrameSize,
      log,
      ...(options.helloOverrides ? { helloOverrides: options.helloOverrides } : {}),
      ...(offer ? { resume: { ticket: offer.ticket, psk: offer.psk, serverCertSha256: offer.serverCertSha256, peer: offer.server } } : {}),
    });
    if (offer) serverNotAfter = offer.expiresAt;
    const ticketing = options.tickets ? { store: options.tickets, key: ticketKey(options), serverNotAfter, log } : undefined;
    return new SecureChatClient(channel, options.requestTimeoutMs ?? 30_000, ticketing, offer ? offer.login : undefined);
  }

  /** True when this connection came from a resumed handshake. */
  get resumed(): boolean {
    return this.channel.resumed;
  }

  /** Drops this server's tickets (after a logout: they may carry the login). */
  forgetTickets(): void {
    this.ticketing?.store.forget(this.ticketing.key);
  }

  /** Stores a ticket batch (PROTOCOL.md §9.2); a bad one is ignored: it only costs a full handshake later. */
  private onTickets(msg: AppMessage): void {
    const t = this.ticketing;
    if (!t) return;
    try {
      const batch = parseSessionTickets(msg);
      const expiresAt = Math.min(Date.now() + batch.lifetimeMs, t.serverNotAfter);
      const serverCertSha256 = Buffer.from(this.channel.peer.fingerprint.replace(/:/g, ''), 'hex');
      t.store.replace(
        t.key,
        batch.tickets.map((x) => ({ ticket: x.ticket, psk: this.channel.ticketPsk(x.nonce), expiresAt, login: batch.login, server: this.channel.peer, serverCertSha256 })),
      );
    } catch (err) {
      t.log.debug('ignoring a bad session_tickets message', { error: (err as Error).message });
    }
  }

  get sessionId(): string {
    return this.channel.welcome.sessionId;
  }

  get server(): ServerIdentity {
    return this.channel.peer;
  }

  get closed(): boolean {
    return this.channel.closed;
  }

  /** Why the connection closed, when it closed on an error. */
  get closeReason(): SecureChatError | undefined {
    return this.closeError;
  }

  get bufferedBytes(): number {
    return this.channel.bufferedBytes;
  }

  /** Sends a request and resolves with its result, or rejects with the server's coded error. */
  request<T = unknown>(type: string, params: Record<string, unknown> = {}, data?: Buffer): Promise<T> {
    if (this.channel.closed) return Promise.reject(this.closeError ?? new SecureChatError('connection_closed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SecureChatError('timeout', `No answer to "${type}" within ${this.requestTimeoutMs} ms.`));
      }, this.requestTimeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.channel.send({ ...params, type, id }, data);
    });
  }

  /** Calls `fn` for every push of `type` (a convenience over the `push` event); returns the unsubscribe. */
  onPush(type: string, fn: (msg: AppMessage, data: Buffer | undefined) => void): () => void {
    const listener = (msg: AppMessage, data: Buffer | undefined): void => {
      if (msg.type === type) fn(msg, data);
    };
    this.on('push', listener);
    return () => void this.off('push', listener);
  }

  /** Resolves once the socket has flushed what was queued (for callers that stream file chunks). */
  waitForDrain(): Promise<void> {
    if (this.channel.bufferedBytes === 0 || this.channel.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.on('drain', done);
      this.on('close', done);
    });
  }

  close(): void {
    this.channel.close();
  }

  private onMessage(msg: AppMessage, data: Buffer | undefined): void {
    if (msg.type === 'ping') {
      this.channel.send({ type: 'pong' });
      return;
    }
    if (msg.type === 'session_tickets') {
      this.onTickets(msg);
      return;
    }
    if (msg.type === 'response') {
      const id = typeof msg.id === 'number' ? msg.id : -1;
      const pending = this.pending.get(id);
      if (!pending) return;
      this.pending.delete(id);
      clearTimeout(pending.timer);
      if (msg.ok === true) pending.resolve(msg.result);
      else pending.reject(errorFromWire(msg.error));
      return;
    }
    this.emit('push', msg, data);
  }
}

/** For name_mismatch: which names the server's certificate does carry, so the user can pick one. */
function withCertificateNames(err: unknown, chain: Buffer[], expected: string): unknown {
  if (!(err instanceof SecureChatError) || err.reason !== 'name_mismatch' || chain.length === 0) return err;
  let names: string[];
  try {
    names = ParsedCert.fromDer(chain[0]).subjectAltNames.map(nameText).filter((n): n is string => n !== undefined);
  } catch {
    return err;
  }
  return new SecureChatError(err.code, err.message, { reason: err.reason, details: { ...err.details, names, expected }, cause: err });
}

function nameText(n: GeneralNameValue): string | undefined {
  if (n.type === 'dns') return n.value;
  if (n.type === 'ip') return n.bytes.length === 4 ? [...n.bytes].join('.') : (n.bytes.toString('hex').match(/.{4}/g) ?? []).join(':');
  return undefined;
}

function identityOf(leaf: ParsedCert): ServerIdentity {
  return { subject: leaf.subject, fingerprint: leaf.fingerprint256 };
}

function dialTcp(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SecureChatError('connect_failed', `No connection to ${host}:${port} within ${timeoutMs} ms.`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new SecureChatError('connect_failed', `Cannot connect to ${host}:${port}: ${err.message}`, { cause: err }));
    });
  });
}

