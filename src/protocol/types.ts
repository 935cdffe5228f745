/**
 * The public contract of `protocol/`: what the server and the client build on. `protocol/` knows
 * nothing about users, storage or certificate policy: the caller injects `verifyPeer`, which turns
 * the peer's DER chain into an identity or throws SecureChatError('bad_certificate', …, {reason}).
 */
import type { KeyObject } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { SecureChatError } from '../errors.js';
import type { Logger } from '../log.js';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_MAX_FRAME = 1024 * 1024; // 1 MiB of ciphertext per record
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * Before the handshake completes a peer is unauthenticated, so its frames are bounded much tighter
 * than records (docs/PROTOCOL.md §1): a hello or finished message is a few KiB (the largest, the
 * certificate chain, stays under 16 KiB for any sane chain). Not configurable: it is a property of
 * the handshake messages, not of the deployment.
 */
export const HANDSHAKE_MAX_FRAME = 64 * 1024;
/**
 * Frames each side receives before the first application record, in every handshake: a full one
 * (client_hello + client_auth; server_hello + server_auth) and a resumed one (hello + finished).
 * These are the frames the HANDSHAKE_MAX_FRAME bound applies to.
 */
export const HANDSHAKE_FRAMES = 2;
export const DEFAULT_REPLAY_WINDOW_MS = 5 * 60_000;

/** An application message: a JSON object with a string `type`, plus optional binary payload. */
export interface AppMessage {
  type: string;
  [key: string]: unknown;
}

/** Our own credentials: the chain (leaf first, DER) and the private key as a KeyObject (never PEM on the hot path). */
export interface LocalIdentity {
  chain: Buffer[];
  privateKey: KeyObject;
}

/** Identity of the verified peer; `T` is whatever the injected verifier returns (username, fingerprint, …). */
export type VerifyPeer<T> = (chain: Buffer[]) => T | Promise<T>;

export interface ChannelOptions {
  maxFrameSize?: number;
  log?: Logger;
}

export interface ServerHandshakeOptions<T> extends ChannelOptions {
  identity: LocalIdentity;
  verifyPeer: VerifyPeer<T>;
  /** Shared across connections: refuses nonces seen inside the window, fails closed when full. */
  replayGuard: ReplayGuardLike;
  /** Who is asking (e.g. the client address): bounds that source's share of the replay cache. */
  source?: string;
  timeoutMs?: number;
  replayWindowMs?: number;
  /** Called after the peer is verified; the server puts its session id in the welcome. */
  sessionId: string;
  now?: () => number;
  /** Accepts resumed hellos (docs/PROTOCOL.md §9); absent = a hello with a ticket is refused (`resumption_refused`, reason `disabled`). */
  resumption?: ResumptionAcceptor<T>;
  /**
   * For scripts/bench/handshake-cpu.ts: called as each step of a full handshake ends, with the
   * step's name (SERVER_HANDSHAKE_STAGES), so the bench times this very code rather than a copy of
   * it. Steps named `wait: …` are time spent waiting for the peer. The server never sets it.
   */
  onStage?: (stage: string) => void;
}

/**
 * The server's side of resumption, injected like verifyPeer: protocol/ never opens a ticket itself.
 * `open` is cheap and synchronous (decrypt, key id, lifetime); `admit` runs only after the binder
 * verified (single use, revocation, account state) and returns the peer identity of the session.
 * Both throw SecureChatError('resumption_refused', …, {reason}).
 */
export interface ResumptionAcceptor<T> {
  open(ticket: Buffer, nowMs: number): { psk: Buffer; state: unknown };
  admit(state: unknown, ticket: Buffer): Promise<T> | T;
}

/** What the client offers to resume: a ticket, its PSK, and the server identity of the session it came from. */
export interface ResumptionOffer<T> {
  ticket: Buffer;
  psk: Buffer;
  /** SHA-256 of the server leaf certificate the client verified when the ticket was issued. */
  serverCertSha256: Buffer;
  /** Becomes the channel's peer once the server proved the PSK under that certificate. */
  peer: T;
}

export interface ClientHandshakeOptions<T> extends ChannelOptions {
  identity: LocalIdentity;
  verifyPeer: VerifyPeer<T>;
  timeoutMs?: number;
  now?: () => number;
  /** Only for tests of the server's defences: override hello fields. */
  helloOverrides?: Record<string, unknown>;
  /** Resume with this ticket instead of a full handshake; any refusal rejects (the caller then dials a full handshake). */
  resume?: ResumptionOffer<T>;
}

export interface ReplayGuardLike {
  /** Clock and replay checks, no state: throws SecureChatError('replay' | 'clock_skew'). */
  check(nonce: Buffer, timestampMs: number, nowMs: number): void;
  /**
   * Stores the nonce of a fully valid hello: throws (or rejects) SecureChatError('replay' |
   * 'clock_skew' | 'busy'). May be asynchronous: a cluster checks a cache shared by every node.
   */
  record(nonce: Buffer, timestampMs: number, nowMs: number, source?: string): void | Promise<void>;
}

export interface Welcome {
  sessionId: string;
  serverTime: number;
}

/**
 * An established, encrypted, authenticated channel. Events:
 * - 'message' (msg: AppMessage, data: Buffer | undefined) — one decrypted record
 * - 'drain' — the socket's buffer emptied (backpressure)
 * - 'close' (err: SecureChatError | undefined) — closed; err set when it ended on an error
 */
export interface SecureChannel<T = unknown> extends EventEmitter {
  readonly peer: T;
  readonly welcome: Welcome;
  /** True when the channel came from a resumed handshake (docs/PROTOCOL.md §9). */
  readonly resumed: boolean;
  /** The PSK of a ticket issued on this channel with `ticketNonce` (derived from res_master, which never leaves the channel). */
  ticketPsk(ticketNonce: Buffer): Buffer;
  /** Encrypts and writes one record; returns false when the caller should wait for 'drain'. */
  send(msg: AppMessage, data?: Buffer): boolean;
  /**
   * Like `send`, for a message already JSON-encoded (UTF-8 JSON of an AppMessage, e.g. from
   * `encodeAppJson`): one encoding serves many recipients. The JSON is not checked again.
   */
  sendEncoded(json: Buffer, data?: Buffer): boolean;
  /** Sends `{type:'error', …}` (when possible), then closes. */
  fail(err: SecureChatError): void;
  close(): void;
  readonly closed: boolean;
  /** Bytes queued in the socket and not yet flushed. */
  readonly bufferedBytes: number;
  /** Backpressure on the peer: stop reading (and delivering) until resumeReading. */
  pauseReading(): void;
  resumeReading(): void;
  readonly readingPaused: boolean;
}

export type HandshakeStream = Duplex;
