/**
 * Accepts connections, enforces the connection limits, runs the server handshake and turns each
 * verified client into a Session wired to the router. Like aedes, the core takes any duplex stream
 * (`handle`), so tests can drive it without a socket; `listen` is the only TCP wiring.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SecureChatError, toSecureChatError } from '../errors.js';
import { componentLogger, type Logger } from '../log.js';
import type { TrustStore } from '../pki/trust-store.js';
import { encodeFrame } from '../protocol/frame.js';
import { ReplayGuard } from '../protocol/replay-guard.js';
import { serverHandshake } from '../protocol/handshake.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_FRAME, DEFAULT_REPLAY_WINDOW_MS, type LocalIdentity, type ReplayGuardLike } from '../protocol/types.js';
import { ConnectionCounts, FdBudget, HandshakeLimiter } from './limits.js';
import type { RateLimits } from './rate.js';
import { DEFAULT_USER_RATE, UserRates, type UserRateLimits } from './user-rate.js';
import { RefusalLog } from './refusal-log.js';
import type { ServerObserver } from './metrics.js';
import type { CommandSpec } from './router.js';
import { Router } from './router.js';
import { CrlMonitor } from './crl-monitor.js';
import { crlStatus, type CrlStatus } from './crl-status.js';
import { Revalidator } from './revalidation.js';
import { DEFAULT_SEND_LIMITS, Session, identityFromPath, type PeerIdentity, type SendLimits } from './session.js';
import { MemoryUsedTicketSet, TicketService, type TicketLogin, type UsedTicketSet } from './tickets.js';
import { sessionTicketsMessage } from '../protocol/resumption.js';
import type { ResumptionAcceptor } from '../protocol/types.js';

export interface ServerLimits extends SendLimits {
  maxFrameSize: number;
  handshakeTimeoutMs: number;
  maxHandshakes: number;
  maxHandshakesPerIp: number;
  idleTimeoutMs: number;
  pingIntervalMs: number;
  replayWindowMs: number;
  replayCacheSize: number;
  /** Share of the replay cache one source address may fill (then its hellos get `busy`). */
  replayCachePerIp: number;
  /** Connections (handshaking or established) in total; more are refused with `busy`. */
  maxSessions: number;
  /** Connections from one address, silent sockets included. */
  maxSessionsPerIp: number;
  /** Established sessions of one client certificate. */
  maxSessionsPerCertificate: number;
  /** Established sessions of one account name (all its certificates). */
  maxSessionsPerUser: number;
  /** File descriptors kept free below the soft RLIMIT_NOFILE: new connections get `busy` first. */
  fdReserve: number;
  /** Refused connections/handshakes: the first 20 per interval are logged, the rest summed up in one line. */
  refusalLogIntervalMs: number;
  /** Session tickets (docs/PROTOCOL.md §9): lifetime (≤ 24 h), key rotation, tickets per batch (0 = off), used-ticket set size. */
  ticketLifetimeMs: number;
  ticketKeyRotationMs: number;
  ticketsPerBatch: number;
  ticketCacheSize: number;
  rate: RateLimits;
  /** One budget for all of a user's logged-in sessions (cluster-wide in a cluster; user-rate.ts). */
  userRate: UserRateLimits;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxFrameSize: DEFAULT_MAX_FRAME,
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  maxHandshakes: 256,
  maxHandshakesPerIp: 64,
  idleTimeoutMs: 90_000,
  pingIntervalMs: 30_000,
  replayWindowMs: DEFAULT_REPLAY_WINDOW_MS,
  replayCacheSize: 1_000_000,
  replayCachePerIp: 100_000,
  maxSessions: 10_000,
  maxSessionsPerIp: 512,
  maxSessionsPerCertificate: 32,
  maxSessionsPerUser: 64,
  fdReserve: 128,
  refusalLogIntervalMs: 10_000,
  ticketLifetimeMs: 86_400_000,
  ticketKeyRotationMs: 3_600_000,
  ticketsPerBatch: 2,
  ticketCacheSize: 1_000_000,
  ...DEFAULT_SEND_LIMITS,
  rate: { requestsPerSecond: 50, burst: 200, maxInflightBytes: 8 * 1024 * 1024 },
  userRate: DEFAULT_USER_RATE,
};

/** What a handler sees: its session plus whatever services the server was built with. */
export interface HandlerContext<Services> {
  session: Session;
  services: Services;
}

export interface ServerOptions<Services> {
  identity: LocalIdentity;
  trust: TrustStore;
  /** CRL file to watch: reloaded on change (and by `reload`) without a restart. */
  crlFile?: string;
  /** CA directory holding the CRL's signing key: with an unencrypted key the server re-signs a CRL about to go stale. */
  caDir?: string;
  /** Re-reads the server certificate and key (SIGHUP); absent = the identity is fixed. */
  loadIdentity?: () => LocalIdentity;
  limits?: Partial<ServerLimits>;
  log: Logger;
  services: Services;
  commands: CommandSpec<HandlerContext<Services>>[];
  /** Told the outcome of every request (metrics). */
  observer?: ServerObserver;
  /** A cluster wraps the node's replay guard in one shared by every node (cluster/replay.ts). */
  replayGuard?: (local: ReplayGuard) => ReplayGuardLike;
  /** A cluster: sessions of this account on the other nodes, counted against maxSessionsPerUser. */
  remoteSessions?: (username: string) => number;
  /** Resumption: re-checks the account of a ticket that carries a login (throws resumption_refused). */
  checkTicketLogin?: (login: TicketLogin) => Promise<void>;
  /** Resumption: makes a resumed session logged in as its ticket says (as a password login would). */
  restoreLogin?: (ctx: HandlerContext<Services>, login: TicketLogin) => void;
  /** The single-use set of accepted tickets; default in memory (a cluster passes its shared set). */
  usedTickets?: UsedTicketSet;
  /** Ticket keys are imported into `tickets.ring` from a cluster's shared store (cluster/ticket-keys.ts). */
  externalTicketKeys?: boolean;
}

export class SecureChatServer<Services = unknown> extends EventEmitter {
  readonly limits: ServerLimits;
  readonly sessions = new Set<Session>();
  private readonly log: Logger;
  /** One child logger for every handshake: building a winston child per connection is wasted work. */
  private readonly handshakeLog: Logger;
  private readonly limiter: HandshakeLimiter;
  private readonly perIp = new ConnectionCounts();
  private readonly perCertificate = new ConnectionCounts();
  private readonly perUser = new ConnectionCounts();
  private readonly fds: FdBudget;
  private readonly refusals: RefusalLog;
  private readonly replayGuard: ReplayGuardLike;
  private readonly router: Router<HandlerContext<Services>>;
  private readonly pending = new Set<Duplex>();
  private tcp: net.Server | null = null;
  private closing = false;
  private readonly keepalive: NodeJS.Timeout;
  private identity: LocalIdentity;
  private readonly revalidator: Revalidator;
  private readonly crl: CrlMonitor | null;
  private staleCrlLoggedAt = 0;
  /** Ticket keys and the used-ticket set: memory only on one node (a restart forces full handshakes); shared in a cluster with a secret (PROTOCOL.md §9.3). */
  readonly tickets: TicketService<PeerIdentity>;
  /** The per-user request budgets of this node (a cluster node shares their spending: cluster/node.ts). */
  readonly userRates: UserRates;

  constructor(private readonly options: ServerOptions<Services>) {
    super();
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.log = componentLogger(options.log, 'server');
    this.handshakeLog = componentLogger(options.log, 'handshake');
    this.limiter = new HandshakeLimiter(this.limits);
    this.userRates = new UserRates(this.limits.userRate);
    this.fds = new FdBudget(this.limits.fdReserve);
    this.refusals = new RefusalLog(this.handshakeLog, { intervalMs: this.limits.refusalLogIntervalMs });
    const localGuard = new ReplayGuard({
      windowMs: this.limits.replayWindowMs,
      maxEntries: this.limits.replayCacheSize,
      maxEntriesPerSource: this.limits.replayCachePerIp,
    });
    this.replayGuard = options.replayGuard ? options.replayGuard(localGuard) : localGuard;
    this.router = new Router(options.commands, componentLogger(options.log, 'router'), options.observer);
    this.identity = options.identity;
    this.revalidator = new Revalidator({ verify: (path) => void options.trust.verifyDer(path, { purpose: 'client' }), log: this.log });
    this.crl = options.crlFile
      ? new CrlMonitor({
          file: options.crlFile,
          trust: options.trust,
          log: this.log,
          ...(options.caDir ? { caDir: options.caDir } : {}),
          onLoaded: (revoked) => {
            void this.revalidator.revoked(revoked).then((closed) => this.emit('crlReloaded', closed));
          },
        })
      : null;
    this.tickets = new TicketService<PeerIdentity>({
      lifetimeMs: this.limits.ticketLifetimeMs,
      rotationMs: this.limits.ticketKeyRotationMs,
      perBatch: this.limits.ticketsPerBatch,
      used: options.usedTickets ?? new MemoryUsedTicketSet(this.limits.ticketCacheSize),
      verifyPath: (path) => this.verifyClient(path),
      notAfterOf: (peer) => peer.notAfter,
      ...(options.checkTicketLogin ? { checkLogin: options.checkTicketLogin } : {}),
      externalKeys: options.externalTicketKeys ?? false,
    });
    this.keepalive = setInterval(() => {
      for (const session of this.sessions) session.checkAlive();
    }, Math.max(50, Math.floor(this.limits.pingIntervalMs / 2)));
    this.keepalive.unref();
  }

  get services(): Services {
    return this.options.services;
  }

  /** Serves one connection over any duplex stream. */
  handle(stream: Duplex, ip = 'unknown'): void {
    const refusal = this.admissionRefusal(ip);
    if (refusal) {
      this.refusals.warn(refusal.reason ?? refusal.code, 'connection refused before handshake', {
        ip, code: refusal.code, reason: refusal.reason, inProgress: this.limiter.inProgress,
      });
      this.refuse(stream, refusal);
      return;
    }
    const ticket = this.limiter.tryAcquire(ip, () => {
      // A newcomer from a less greedy address took this slot: end this handshake now.
      this.refusals.warn('handshake_evicted', 'pending handshake evicted for a fairer share', { ip });
      this.refuse(stream, new SecureChatError('busy', undefined, { reason: 'evicted' }));
    });
    if (!ticket) {
      this.refusals.warn('handshake_slots', 'connection refused before handshake', { ip, code: 'busy', reason: 'handshake_slots', inProgress: this.limiter.inProgress });
      this.refuse(stream, new SecureChatError('busy', undefined, { reason: 'handshake_slots' }));
      return;
    }
    this.trackConnection(stream, ip);
    this.pending.add(stream);
    const sessionId = randomUUID();
    // Counted against its certificate and account from verification on (before the welcome), so
    // concurrent handshakes cannot all slip under the cap; given back if the handshake then fails.
    let counted: PeerIdentity | null = null;
    const admit = (peer: PeerIdentity): PeerIdentity => {
      const capped = this.sessionCapRefusal(peer);
      if (capped) throw capped;
      this.countPeer(peer, 1);
      counted = peer;
      return peer;
    };
    const tickets = this.tickets.acceptor();
    const resumption: ResumptionAcceptor<PeerIdentity> = { open: tickets.open, admit: async (state, t) => admit(await tickets.admit(state, t)) };
    serverHandshake<PeerIdentity>(stream, {
      identity: this.identity,
      verifyPeer: (chain) => admit(this.verifyClient(chain)),
      resumption,
      replayGuard: this.replayGuard,
      source: ip,
      timeoutMs: this.limits.handshakeTimeoutMs,
      replayWindowMs: this.limits.replayWindowMs,
      maxFrameSize: this.limits.maxFrameSize,
      sessionId,
      log: this.handshakeLog,
    }).then(
      (channel) => {
        this.pending.delete(stream);
        this.limiter.release(ticket);
        if (this.closing) {
          this.countPeer(channel.peer, -1);
          channel.fail(new SecureChatError('shutting_down'));
          return;
        }
        this.startSession(new Session(channel, { ...this.limits, ip, log: this.log, userRates: this.userRates }));
      },
      (err: unknown) => {
        this.pending.delete(stream);
        this.limiter.release(ticket);
        if (counted) this.countPeer(counted, -1);
        const scErr = toSecureChatError(err);
        const fromPeer = scErr.details?.['fromPeer'] === true;
        // The summary's counter key: a peer's reason is its own text (any string), so it is not part of it.
        const code = fromPeer ? `peer:${scErr.code}` : scErr.reason ? `${scErr.code}:${scErr.reason}` : scErr.code;
        if (fromPeer) {
          this.refusals.warn(code, `client refused the handshake: ${scErr.code}${scErr.reason ? ` (${scErr.reason})` : ''}`, { ip });
        } else if (scErr.code === 'bad_certificate') {
          this.refusals.warn(code, `[Server] Certificate validation failed: ${scErr.reason ?? 'unknown'}`, { ip, reason: scErr.reason });
        } else {
          this.refusals.warn(code, 'handshake failed', { ip, code: scErr.code, reason: scErr.reason });
        }
        if (scErr.details?.['fromPeer'] !== true) this.emit('handshakeFailed', scErr, ip);
        else this.emit('handshakeRefusedByClient', scErr, ip);
      },
    );
  }

  /** The cheap checks at accept: shutting down, total connections, descriptors, this address's share. */
  private admissionRefusal(ip: string): SecureChatError | null {
    if (this.closing) return new SecureChatError('shutting_down');
    if (this.sessions.size + this.pending.size >= this.limits.maxSessions) return new SecureChatError('busy', undefined, { reason: 'max_sessions' });
    if (!this.fds.hasRoom()) return new SecureChatError('busy', undefined, { reason: 'fd_reserve' });
    if (this.perIp.get(ip) >= this.limits.maxSessionsPerIp) return new SecureChatError('busy', undefined, { reason: 'sessions_per_address' });
    return null;
  }

  /** Caps that need the verified certificate: sessions per certificate and per account name. */
  private sessionCapRefusal(peer: PeerIdentity): SecureChatError | null {
    if (this.perCertificate.get(peer.fingerprint) >= this.limits.maxSessionsPerCertificate) {
      return new SecureChatError('busy', 'Too many sessions with this certificate; close one first.', { reason: 'sessions_per_certificate' });
    }
    const elsewhere = this.options.remoteSessions?.(peer.username) ?? 0;
    if (this.perUser.get(peer.username) + elsewhere >= this.limits.maxSessionsPerUser) {
      return new SecureChatError('busy', 'Too many sessions for this account; close one first.', { reason: 'sessions_per_user' });
    }
    return null;
  }

  private countPeer(peer: PeerIdentity, by: 1 | -1): void {
    if (by > 0) {
      this.perCertificate.add(peer.fingerprint);
      this.perUser.add(peer.username);
    } else {
      this.perCertificate.remove(peer.fingerprint);
      this.perUser.remove(peer.username);
    }
  }

  /** Counts the connection against its address (and the fd budget) until the stream closes. */
  private trackConnection(stream: Duplex, ip: string): void {
    this.perIp.add(ip);
    this.fds.opened();
    let done = false;
    const release = (): void => {
      if (done) return;
      done = true;
      this.perIp.remove(ip);
      this.fds.closed();
    };
    stream.once('close', release);
  }

  async listen(port: number, host = '127.0.0.1'): Promise<net.AddressInfo> {
    const tcp = net.createServer({ noDelay: true }, (socket) => {
      socket.on('error', () => socket.destroy());
      this.handle(socket, socket.remoteAddress ?? 'unknown');
    });
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    const addr = tcp.address() as net.AddressInfo;
    this.log.info(`listening on ${addr.address}:${addr.port}`);
    return addr;
  }

  /** Stops accepting, tells every session the server is going away, and waits for the sockets to close. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.emit('closing');
    clearInterval(this.keepalive);
    this.userRates.stop();
    this.refusals.flush();
    this.crl?.stop();
    this.revalidator.stop();
    const tcp = this.tcp;
    const stopped = tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : Promise.resolve();
    for (const stream of this.pending) stream.destroy();
    const closedSessions = [...this.sessions].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.closed) return resolve();
          s.once('close', () => resolve());
          s.fail(new SecureChatError('shutting_down'));
        }),
    );
    await Promise.all(closedSessions);
    await stopped;
    this.emit('closed');
  }

  private verifyClient(chain: Buffer[]): PeerIdentity {
    let path;
    try {
      path = this.options.trust.verifyDer(chain, { purpose: 'client' });
    } catch (err) {
      const scErr = toSecureChatError(err);
      // A stale CRL is the server's problem, not the client's certificate: say so to both.
      if (scErr.code === 'bad_certificate' && (scErr.reason === 'crl_expired' || scErr.reason === 'crl_not_yet_valid')) {
        // Once a minute at most: every client retrying must not flood the log.
        if (Date.now() - this.staleCrlLoggedAt >= 60_000) {
          this.staleCrlLoggedAt = Date.now();
          this.log.error(`refusing clients because the server's CRL is out of date (${scErr.reason}); re-sign it with \`securechat ca crl\``);
        }
        throw new SecureChatError('server_crl_expired', undefined, { reason: scErr.reason });
      }
      throw err;
    }
    const leaf = path[0];
    if (!leaf.commonName) {
      throw new SecureChatError('bad_certificate', 'The client certificate has no subject CN to use as the account name.', { reason: 'malformed' });
    }
    return identityFromPath(path);
  }

  /** Freshness of the CRL in force (for health/admin views: see crl-status.ts). */
  crlStatus(): CrlStatus {
    return this.crl?.status() ?? crlStatus([]);
  }

  /**
   * SIGHUP: re-reads the CRL and the server certificate and key. A file that fails to load keeps
   * the previous one in force, with an error line. Returns what was reloaded.
   */
  reload(): { crl: boolean; identity: boolean } {
    const crl = this.crl ? this.crl.reload('reload requested') : false;
    let identity = false;
    if (this.options.loadIdentity) {
      try {
        this.identity = this.options.loadIdentity();
        identity = true;
        this.log.info('server certificate and key reloaded');
      } catch (err) {
        this.log.error('server certificate reload failed; keeping the previous certificate and key', { error: toSecureChatError(err).message });
      }
    }
    return { crl, identity };
  }

  private startSession(session: Session): void {
    this.sessions.add(session);
    this.revalidator.track(session);
    this.log.info('session started', { session: session.id, user: session.username, ip: session.ip, ...(session.channel.resumed ? { resumed: true } : {}) });
    const ctx: HandlerContext<Services> = { session, services: this.options.services };
    const login = session.identity.resumedLogin;
    if (login && this.options.restoreLogin) this.options.restoreLogin(ctx, login);
    // A batch after welcome, and a new one whenever the login state changes (PROTOCOL.md §9.2).
    this.sendTickets(session);
    session.on('ticketState', () => this.sendTickets(session));
    session.on('request', (msg, data) => session.track(this.router.dispatch(ctx, msg, data)));
    session.on('close', (err?: SecureChatError) => {
      this.sessions.delete(session);
      this.countPeer(session.identity, -1);
      this.revalidator.untrack(session);
      this.log.info('session ended', { session: session.id, user: session.username, code: err?.code });
      this.emit('sessionClosed', session, err);
    });
    this.emit('session', session);
  }

  private sendTickets(session: Session): void {
    if (session.closed || !this.tickets.enabled) return;
    const login: TicketLogin | null =
      session.userId !== null && session.userUuid !== null
        ? { userId: session.userId, uuid: session.userUuid, username: session.username, credentialVersion: session.credentialVersion }
        : null;
    try {
      const batch = this.tickets.issue(session.channel, session.identity.path, login, session.identity);
      if (batch) session.send(sessionTicketsMessage(batch));
    } catch (err) {
      // Tickets are an optimisation: a failure costs the client a full handshake next time, nothing more.
      this.log.warn('could not issue session tickets', { session: session.id, error: toSecureChatError(err).message });
    }
  }

  /** A refusal before any key exists can only be a clear-text error frame. */
  private refuse(stream: Duplex, err: SecureChatError): void {
    const body = Buffer.from(JSON.stringify({ type: 'error', ...err.toJSON() }));
    stream.on('error', () => undefined);
    stream.end(encodeFrame(body));
    setTimeout(() => stream.destroy(), 1000).unref();
  }
}
