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
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_FRAME, DEFAULT_REPLAY_WINDOW_MS, type LocalIdentity } from '../protocol/types.js';
import { HandshakeLimiter } from './limits.js';
import type { RateLimits } from './rate.js';
import type { CommandSpec } from './router.js';
import { Router } from './router.js';
import { CrlMonitor } from './crl-monitor.js';
import { crlStatus, type CrlStatus } from './crl-status.js';
import { Revalidator } from './revalidation.js';
import { Session, identityFromPath, type PeerIdentity } from './session.js';

export interface ServerLimits {
  maxFrameSize: number;
  handshakeTimeoutMs: number;
  maxHandshakes: number;
  maxHandshakesPerIp: number;
  idleTimeoutMs: number;
  pingIntervalMs: number;
  replayWindowMs: number;
  replayCacheSize: number;
  rate: RateLimits;
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
  rate: { requestsPerSecond: 50, burst: 200, maxInflightBytes: 8 * 1024 * 1024 },
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
}

export class SecureChatServer<Services = unknown> extends EventEmitter {
  readonly limits: ServerLimits;
  readonly sessions = new Set<Session>();
  private readonly log: Logger;
  /** One child logger for every handshake: building a winston child per connection is wasted work. */
  private readonly handshakeLog: Logger;
  private readonly limiter: HandshakeLimiter;
  private readonly replayGuard: ReplayGuard;
  private readonly router: Router<HandlerContext<Services>>;
  private readonly pending = new Set<Duplex>();
  private tcp: net.Server | null = null;
  private closing = false;
  private readonly keepalive: NodeJS.Timeout;
  private identity: LocalIdentity;
  private readonly revalidator: Revalidator;
  private readonly crl: CrlMonitor | null;
  private staleCrlLoggedAt = 0;

  constructor(private readonly options: ServerOptions<Services>) {
    super();
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.log = componentLogger(options.log, 'server');
    this.handshakeLog = componentLogger(options.log, 'handshake');
    this.limiter = new HandshakeLimiter(this.limits);
    this.replayGuard = new ReplayGuard({ windowMs: this.limits.replayWindowMs, maxEntries: this.limits.replayCacheSize });
    this.router = new Router(options.commands, componentLogger(options.log, 'router'));
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
    if (this.closing || !this.limiter.tryAcquire(ip)) {
      const code = this.closing ? 'shutting_down' : 'busy';
      this.log.warn('connection refused before handshake', { ip, code, inProgress: this.limiter.inProgress });
      this.refuse(stream, new SecureChatError(code));
      return;
    }
    this.pending.add(stream);
    const sessionId = randomUUID();
    serverHandshake<PeerIdentity>(stream, {
      identity: this.identity,
      verifyPeer: (chain) => this.verifyClient(chain),
      replayGuard: this.replayGuard,
      timeoutMs: this.limits.handshakeTimeoutMs,
      replayWindowMs: this.limits.replayWindowMs,
      maxFrameSize: this.limits.maxFrameSize,
      sessionId,
      log: this.handshakeLog,
    }).then(
      (channel) => {
        this.pending.delete(stream);
        this.limiter.release(ip);
        if (this.closing) {
          channel.fail(new SecureChatError('shutting_down'));
          return;
        }
        this.startSession(new Session(channel, { ...this.limits, ip, log: this.log }));
      },
      (err: unknown) => {
        this.pending.delete(stream);
        this.limiter.release(ip);
        const scErr = toSecureChatError(err);
        if (scErr.details?.['fromPeer'] === true) {
          this.log.warn(`client refused the handshake: ${scErr.code}${scErr.reason ? ` (${scErr.reason})` : ''}`, { ip });
        } else if (scErr.code === 'bad_certificate') {
          this.log.warn(`[Server] Certificate validation failed: ${scErr.reason ?? 'unknown'}`, { ip, reason: scErr.reason });
        } else {
          this.log.warn('handshake failed', { ip, code: scErr.code, reason: scErr.reason });
        }
        if (scErr.details?.['fromPeer'] !== true) this.emit('handshakeFailed', scErr, ip);
        else this.emit('handshakeRefusedByClient', scErr, ip);
      },
    );
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
    this.log.info('session started', { session: session.id, user: session.username, ip: session.ip });
    const ctx: HandlerContext<Services> = { session, services: this.options.services };
    session.on('request', (msg, data) => void this.router.dispatch(ctx, msg, data));
    session.on('close', (err?: SecureChatError) => {
      this.sessions.delete(session);
      this.revalidator.untrack(session);
      this.log.info('session ended', { session: session.id, user: session.username, code: err?.code });
      this.emit('sessionClosed', session, err);
    });
    this.emit('session', session);
  }

  /** A refusal before any key exists can only be a clear-text error frame. */
  private refuse(stream: Duplex, err: SecureChatError): void {
    const body = Buffer.from(JSON.stringify({ type: 'error', ...err.toJSON() }));
    stream.on('error', () => undefined);
    stream.end(encodeFrame(body));
    setTimeout(() => stream.destroy(), 1000).unref();
  }
}
