/**
 * One authenticated connection: owns the channel, keeps it alive with ping/pong, closes it when
 * idle, and hands every request to the router. Knows its certificate identity from the handshake;
 * login state is set by the auth handlers.
 */
import { EventEmitter } from 'node:events';
import { SecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ParsedCert } from '../pki/cert.js';
import type { AppMessage, SecureChannel } from '../protocol/types.js';
import { SessionRate, type RateLimits } from './rate.js';

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

export interface SessionOptions {
  rate: RateLimits;
  idleTimeoutMs: number;
  pingIntervalMs: number;
  log: Logger;
  ip: string;
}

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

  constructor(
    readonly channel: SecureChannel<PeerIdentity>,
    private readonly options: SessionOptions,
  ) {
    super();
    this.id = channel.welcome.sessionId;
    this.ip = options.ip;
    this.identity = channel.peer;
    this.rate = new SessionRate(options.rate);
    channel.on('message', (msg: AppMessage, data: Buffer | undefined) => this.onMessage(msg, data));
    channel.on('close', (err?: SecureChatError) => {
      this.emit('close', err);
    });
    channel.on('drain', () => this.emit('drain'));
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
    return this.channel.send(msg, data);
  }

  /** `send` for a message already JSON-encoded once for many sessions (SecureChannel.sendEncoded). */
  sendEncoded(json: Buffer, data?: Buffer): boolean {
    if (this.channel.closed) return false;
    return this.channel.sendEncoded(json, data);
  }

  admit(cost: number, bytes: number): void {
    this.rate.admit(cost, bytes);
  }

  settle(bytes: number): void {
    this.rate.settle(bytes);
  }

  fail(err: SecureChatError): void {
    this.channel.fail(err);
  }

  close(): void {
    this.channel.close();
  }

  private onMessage(msg: AppMessage, data: Buffer | undefined): void {
    this.lastHeard = Date.now();
    if (msg.type === 'ping') {
      this.send({ type: 'pong' });
      return;
    }
    if (msg.type === 'pong') return;
    this.emit('request', msg, data);
  }

  /** Called by the server's single keepalive sweep (one timer for all sessions, not one each). */
  checkAlive(): void {
    const silentFor = Date.now() - this.lastHeard;
    if (silentFor >= this.options.idleTimeoutMs) {
      this.options.log.info('closing idle session', { session: this.id, user: this.username, silentMs: silentFor });
      this.fail(new SecureChatError('idle_timeout'));
    } else if (silentFor >= this.options.pingIntervalMs) {
      this.send({ type: 'ping' });
    }
  }
}
