/**
 * One authenticated connection: owns the channel, keeps it alive with ping/pong, closes it when
 * idle, and hands every request to the router. Knows its certificate identity from the handshake;
 * login state is set by the auth handlers.
 *
 * The session is the one send path (DESIGN.md §6): responses, pushes, pongs and file data all go
 * through `send`, which watches the socket's backlog. Past `maxSendQueueBytes` the session stops
 * reading new requests until the socket drains; a backlog that does not drain within
 * `sendStallTimeoutMs`, or that grows past twice the bound, closes the session with `slow_reader`.
 * Reading also stops while `maxConcurrentRequests` are being handled, and briefly for a client that
 * keeps sending after being told `rate_limited`. So what a session can make the server hold is
 * bounded whatever it sends (README, "Limits enforced by the server").
 */
import { EventEmitter } from 'node:events';
import { SecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ParsedCert } from '../pki/cert.js';
import type { AppMessage, SecureChannel } from '../protocol/types.js';
import { SessionRate, type RateLimits } from './rate.js';
import type { UserRates } from './user-rate.js';
import type { TicketLogin } from './tickets.js';

export interface PeerIdentity {
  /** Subject CN of the client certificate: the only name this session may log in as. */
  username: string;
  /** SHA-256 fingerprint of the leaf certificate (hex, colon-free, lower case). */
  fingerprint: string;
  /** The validated path (leaf first, DER), kept to re-check it while the session lasts. */
  path: Buffer[];
  /** Earliest notAfter of the path (ms): the session ends then (revalidation.ts). */
  notAfter: number;
  /** Serials (ParsedCert.serialHex) of the path's certificates below the anchor: a CRL listing one re-checks the session. */
  serials: string[];
  /** Set only on a resumed session: the login its ticket carried (null = none; docs/PROTOCOL.md §9.6). */
  resumedLogin?: TicketLogin | null;
}

/** The identity of a path the validator accepted (leaf first, anchor last). */
export function identityFromPath(path: readonly ParsedCert[]): PeerIdentity {
  const leaf = path[0];
  return {
    username: leaf.commonName ?? '',
    fingerprint: leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
    path: path.map((c) => c.der),
    notAfter: Math.min(...path.map((c) => c.notAfter.getTime())),
    serials: path.slice(0, -1).map((c) => c.serialHex),
  };
}

export interface SendLimits {
  /** Bytes queued on the socket above which the session stops reading requests (and pushes go to catch-up). */
  maxSendQueueBytes: number;
  /** A backlog above the bound that does not drain within this long closes the session (`slow_reader`). */
  sendStallTimeoutMs: number;
  /** Requests of one session handled at once; more wait unread in the socket. */
  maxConcurrentRequests: number;
}

export const DEFAULT_SEND_LIMITS: SendLimits = {
  maxSendQueueBytes: 4 * 1024 * 1024,
  sendStallTimeoutMs: 30_000,
  maxConcurrentRequests: 16,
};

export interface SessionOptions extends Partial<SendLimits> {
  rate: RateLimits;
  idleTimeoutMs: number;
  pingIntervalMs: number;
  /** The largest record: the hard cap on the backlog leaves room for one more. */
  maxFrameSize?: number;
  log: Logger;
  ip: string;
  /** The per-user budget all of a user's sessions share once logged in (user-rate.ts); absent = none. */
  userRates?: UserRates;
}

/** Cost in rate tokens of answering one ping: small, but not free. */
const PING_COST = 1;
/** Longest a rate-limited client is left unread at once. */
const MAX_RATE_HOLD_MS = 1000;

export class Session extends EventEmitter {
  readonly id: string;
  readonly ip: string;
  readonly identity: PeerIdentity;
  userId: number | null = null;
  userUuid: string | null = null;
  /** The account's credential version at login: a newer account event ends this session (account-events.ts). */
  credentialVersion = 0;
  private lastHeard = Date.now();
  private readonly rate: SessionRate;
  private readonly sendLimits: SendLimits;
  private readonly hardCapBytes: number;
  private backlogged = false;
  private stallTimer: NodeJS.Timeout | null = null;
  private inflightRequests = 0;
  private rateHold: NodeJS.Timeout | null = null;
  /** Keepalive pings sent and not yet answered (their pongs cost nothing; at most a few are owed). */
  private pingsOutstanding = 0;
  private serialTail: Promise<void> = Promise.resolve();

  constructor(
    readonly channel: SecureChannel<PeerIdentity>,
    private readonly options: SessionOptions,
  ) {
    super();
    this.id = channel.welcome.sessionId;
    this.ip = options.ip;
    this.identity = channel.peer;
    this.rate = new SessionRate(options.rate);
    this.sendLimits = {
      maxSendQueueBytes: options.maxSendQueueBytes ?? DEFAULT_SEND_LIMITS.maxSendQueueBytes,
      sendStallTimeoutMs: options.sendStallTimeoutMs ?? DEFAULT_SEND_LIMITS.sendStallTimeoutMs,
      maxConcurrentRequests: options.maxConcurrentRequests ?? DEFAULT_SEND_LIMITS.maxConcurrentRequests,
    };
    this.hardCapBytes = 2 * this.sendLimits.maxSendQueueBytes + (options.maxFrameSize ?? 1024 * 1024);
    channel.on('message', (msg: AppMessage, data: Buffer | undefined) => this.onMessage(msg, data));
    channel.on('close', (err?: SecureChatError) => {
      this.clearTimers();
      this.emit('close', err);
    });
    channel.on('drain', () => this.onDrain());
  }

  /** True while the socket holds more than the bound: pushes should wait (catch-up), not queue. */
  get sendBacklogged(): boolean {
    return this.backlogged || this.channel.bufferedBytes > this.sendLimits.maxSendQueueBytes;
  }

  /** Runs `work` once the session's earlier serial work is done (the router's `serial` commands). */
  serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.serialTail.then(work);
    this.serialTail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Resolves when the backlog is under the bound (true) or the session closed (false). */
  untilWritable(): Promise<boolean> {
    if (this.channel.closed) return Promise.resolve(false);
    if (!this.sendBacklogged) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.channel.closed) done(false);
        else if (!this.sendBacklogged) done(true);
      };
      const done = (ok: boolean): void => {
        this.off('drain', check);
        this.off('close', check);
        resolve(ok);
      };
      this.on('drain', check);
      this.on('close', check);
    });
  }

  /** Requests being handled now (the router's dispatch promises not yet settled). */
  get requestsInFlight(): number {
    return this.inflightRequests;
  }

  /** The router's work for one request: counted, so reading stops at maxConcurrentRequests. */
  track(work: Promise<unknown>): void {
    this.inflightRequests++;
    this.updateReading();
    void work.finally(() => {
      this.inflightRequests--;
      this.updateReading();
    });
  }

  get username(): string {
    return this.identity.username;
  }

  get loggedIn(): boolean {
    return this.userId !== null;
  }

  get closed(): boolean {
    return this.channel.closed;
  }

  send(msg: AppMessage, data?: Buffer): boolean {
    if (this.channel.closed) return false;
    const ok = this.channel.send(msg, data);
    return this.afterWrite() && ok;
  }

  /** `send` for a message already JSON-encoded once for many sessions (SecureChannel.sendEncoded). */
  sendEncoded(json: Buffer, data?: Buffer): boolean {
    if (this.channel.closed) return false;
    const ok = this.channel.sendEncoded(json, data);
    return this.afterWrite() && ok;
  }

  admit(cost: number, bytes: number): void {
    const user = this.loggedIn ? this.options.userRates : undefined;
    try {
      // The account's budget is checked first and spent last: a refusal by either spends nothing.
      user?.check(this.username, cost);
      this.rate.admit(cost, bytes, this.loggedIn);
      user?.take(this.username, cost);
    } catch (err) {
      // A client that keeps sending after rate_limited is not read until its bucket refills.
      if (this.rate.refusedInARow > Math.max(20, this.rate.burst / 4)) this.holdReading(err);
      throw err;
    }
  }

  settle(bytes: number): void {
    this.rate.settle(bytes);
  }

  /** Rate tokens for work that turned out larger than its up-front price (SessionRate.charge). */
  charge(cost: number): void {
    this.rate.charge(cost, this.loggedIn);
    if (this.loggedIn) this.options.userRates?.take(this.username, cost);
  }

  fail(err: SecureChatError): void {
    this.channel.fail(err);
  }

  close(): void {
    this.channel.close();
  }

  /** False once the backlog closed the session; past the bound, reading stops until 'drain'. */
  private afterWrite(): boolean {
    const queued = this.channel.bufferedBytes;
    if (queued > this.hardCapBytes) {
      this.options.log.info('closing a session that does not read', { session: this.id, user: this.username, queuedBytes: queued });
      this.fail(new SecureChatError('slow_reader', undefined, { reason: 'backlog', details: { queuedBytes: queued } }));
      return false;
    }
    if (queued > this.sendLimits.maxSendQueueBytes && !this.backlogged) {
      this.backlogged = true;
      this.stallTimer = setTimeout(() => {
        this.options.log.info('closing a session whose backlog did not drain', { session: this.id, user: this.username, queuedBytes: this.channel.bufferedBytes });
        this.fail(new SecureChatError('slow_reader', undefined, { reason: 'stalled', details: { queuedBytes: this.channel.bufferedBytes } }));
      }, this.sendLimits.sendStallTimeoutMs);
      this.stallTimer.unref();
      this.updateReading();
    }
    return true;
  }

  private onDrain(): void {
    if (this.backlogged) {
      this.backlogged = false;
      if (this.stallTimer) clearTimeout(this.stallTimer);
      this.stallTimer = null;
      this.updateReading();
    }
    this.emit('drain');
  }

  private holdReading(err: unknown): void {
    if (this.rateHold || this.channel.closed) return;
    const retry = Number((err as SecureChatError).details?.['retryAfterMs'] ?? 100);
    this.rateHold = setTimeout(() => {
      this.rateHold = null;
      this.updateReading();
    }, Math.min(MAX_RATE_HOLD_MS, Math.max(50, retry)));
    this.rateHold.unref();
    this.updateReading();
  }

  /** One place decides whether the peer is read: backlog, concurrent requests, rate hold. */
  private updateReading(): void {
    if (this.channel.closed) return;
    const hold = this.backlogged || this.rateHold !== null || this.inflightRequests >= this.sendLimits.maxConcurrentRequests;
    if (hold) this.channel.pauseReading();
    else if (this.channel.readingPaused) this.channel.resumeReading();
  }

  private clearTimers(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    if (this.rateHold) clearTimeout(this.rateHold);
    this.stallTimer = null;
    this.rateHold = null;
  }

  private onMessage(msg: AppMessage, data: Buffer | undefined): void {
    this.lastHeard = Date.now();
    if (msg.type === 'pong' && this.pingsOutstanding > 0) {
      // The answer to our keepalive ping: free.
      this.pingsOutstanding--;
      return;
    }
    if (msg.type === 'ping' || msg.type === 'pong') {
      // Neither has a reply to refuse with: each costs tokens like a request (an unasked-for pong
      // too, or a pong flood would be free work); past the budget it is dropped, and a client that
      // keeps sending them is left unread for a while, as after rate_limited.
      if (this.rate.tryTake(PING_COST, this.loggedIn)) {
        if (msg.type === 'ping') this.send({ type: 'pong' });
      } else if (this.rate.refusedInARow > Math.max(20, this.rate.burst / 4)) {
        this.holdReading(new SecureChatError('rate_limited', undefined, { details: { retryAfterMs: 100 } }));
      }
      return;
    }
    this.emit('request', msg, data);
  }

  /** Called by the server's single keepalive sweep (one timer for all sessions, not one each). */
  checkAlive(): void {
    const silentFor = Date.now() - this.lastHeard;
    if (silentFor >= this.options.idleTimeoutMs) {
      this.options.log.info('closing idle session', { session: this.id, user: this.username, silentMs: silentFor });
      this.fail(new SecureChatError('idle_timeout'));
    } else if (silentFor >= this.options.pingIntervalMs) {
      this.pingsOutstanding = Math.min(this.pingsOutstanding + 1, 4);
      this.send({ type: 'ping' });
    }
  }
}
