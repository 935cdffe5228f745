/**
 * Session tickets (docs/PROTOCOL.md §9): the server's rotating ticket keys, the ticket format
 * (AES-256-GCM under a key with an id), the single-use set, and the acceptor the handshake calls
 * on a resumed hello. A single node keeps its keys in memory only: a restart forces full handshakes
 * (§9.3); a cluster with a cluster secret imports them from its shared store (cluster/ticket-keys.ts).
 * Neither keys nor PSKs are ever logged (the ring prints as "[redacted]").
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { SecureChatError, toSecureChatError } from '../errors.js';
import { resumptionRefused, TICKET_NONCE_SIZE, type SessionTicketsMessage } from '../protocol/resumption.js';
import type { ResumptionAcceptor, SecureChannel } from '../protocol/types.js';

export const TICKET_FORMAT = 0x01;
export const TICKET_KEY_ID_SIZE = 8;
const IV_SIZE = 12;
const TAG_SIZE = 16;
const HEADER_SIZE = 1 + TICKET_KEY_ID_SIZE + IV_SIZE;
const AAD_LABEL = Buffer.from('securechat v1 ticket', 'ascii');
/** The longest a ticket may live, whatever the configuration says (issue 15). */
export const MAX_TICKET_LIFETIME_MS = 24 * 3600_000;

/**
 * The used-ticket set: single use, across every node that shares it. Tiny on purpose, so a
 * cluster's SharedSet (Redis SET NX PX, NATS KV create) drops in. Resolves false when the key
 * was already present; may throw SecureChatError('busy') when it cannot remember more.
 */
export interface UsedTicketSet {
  addIfAbsent(key: string, ttlMs: number): Promise<boolean>;
}

/** In-memory default: a map of expiry times, bounded; full of live entries = fail closed (busy). */
export class MemoryUsedTicketSet implements UsedTicketSet {
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly maxEntries = 1_000_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.expiries.size;
  }

  addIfAbsent(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const at = this.expiries.get(key);
    if (at !== undefined && at > now) return Promise.resolve(false);
    if (this.expiries.size >= this.maxEntries) this.prune(now);
    if (this.expiries.size >= this.maxEntries) return Promise.reject(new SecureChatError('busy', undefined, { reason: 'ticket_cache_full' }));
    // Insertion order = roughly expiry order (one lifetime for all), so pruning walks from the front.
    this.expiries.delete(key);
    this.expiries.set(key, now + Math.max(1, ttlMs));
    return Promise.resolve(true);
  }

  private prune(now: number): void {
    for (const [key, at] of this.expiries) {
      if (at <= now) this.expiries.delete(key);
    }
  }
}

export interface TicketKey {
  id: Buffer;
  key: Buffer;
  createdAt: number;
  /** When a newer key took over (Infinity while current). */
  retiredAt: number;
}

export interface TicketKeyRingOptions {
  rotationMs: number;
  lifetimeMs: number;
  now?: () => number;
  /**
   * Keys come from elsewhere (a cluster's shared store, cluster/ticket-keys.ts): the ring never
   * makes one itself; the current key is the newest imported one whose createdAt has come.
   */
  external?: boolean;
}

/**
 * The current key seals; it is replaced every `rotationMs`. A retired key still opens tickets for
 * one ticket lifetime (a ticket sealed just before the rotation lives that long), then is erased.
 */
export class TicketKeyRing {
  private readonly keys: TicketKey[] = [];
  private readonly now: () => number;

  constructor(private readonly options: TicketKeyRingOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The sealing key, rotated when due. */
  current(): TicketKey {
    const now = this.now();
    if (this.options.external) {
      this.dropOld(now);
      // A key made ahead for the next rotation waits for its time; only future keys (clock skew): the oldest.
      const key = this.keys.find((k) => k.createdAt <= now) ?? this.keys[this.keys.length - 1];
      if (!key) throw new SecureChatError('busy', 'No ticket key yet.', { reason: 'no_ticket_key' });
      return key;
    }
    const head = this.keys[0];
    if (head && now - head.createdAt < this.options.rotationMs) return head;
    if (head) head.retiredAt = now;
    const fresh: TicketKey = { id: randomBytes(TICKET_KEY_ID_SIZE), key: randomBytes(32), createdAt: now, retiredAt: Infinity };
    this.keys.unshift(fresh);
    this.dropOld(now);
    return fresh;
  }

  /** The key with this id, if it may still open tickets. */
  find(id: Buffer): TicketKey | undefined {
    const now = this.now();
    this.dropOld(now);
    return this.keys.find((k) => k.id.equals(id));
  }

  /** Adds a key made elsewhere (a cluster peer, a known-answer test); the newest becomes current. */
  import(key: { id: Buffer; key: Buffer; createdAt: number }): void {
    if (key.id.length !== TICKET_KEY_ID_SIZE || key.key.length !== 32) throw new SecureChatError('bad_input', 'Bad ticket key.');
    if (this.keys.some((k) => k.id.equals(key.id))) return;
    const entry: TicketKey = { id: Buffer.from(key.id), key: Buffer.from(key.key), createdAt: key.createdAt, retiredAt: Infinity };
    this.keys.push(entry);
    this.keys.sort((a, b) => b.createdAt - a.createdAt);
    for (let i = 1; i < this.keys.length; i++) this.keys[i].retiredAt = Math.min(this.keys[i].retiredAt, this.keys[i - 1].createdAt);
  }

  get size(): number {
    return this.keys.length;
  }

  /** Whether a key with this id is in the ring. */
  has(id: Buffer): boolean {
    return this.keys.some((k) => k.id.equals(id));
  }

  /** Key ids and times, newest first (no key material): for tests and the admin view. */
  describe(): Array<{ id: string; createdAt: number; retiredAt: number }> {
    return this.keys.map((k) => ({ id: k.id.toString('hex'), createdAt: k.createdAt, retiredAt: k.retiredAt }));
  }

  private dropOld(now: number): void {
    for (let i = this.keys.length - 1; i > 0; i--) {
      const k = this.keys[i];
      if (now - k.retiredAt >= this.options.lifetimeMs) {
        k.key.fill(0);
        this.keys.splice(i, 1);
      }
    }
  }

  // Ticket keys never reach a log line, a JSON dump or an inspect().
  toJSON(): string {
    return '[redacted ticket keys]';
  }

  [inspect.custom](): string {
    return `TicketKeyRing(${this.keys.length} keys, [redacted])`;
  }
}

/** The login a ticket carries (what a resumed session starts logged in as). */
export interface TicketLogin {
  userId: number;
  uuid: string;
  username: string;
  credentialVersion: number;
}

/** The sealed state (JSON) of one ticket. */
export interface TicketState {
  psk: Buffer;
  issuedAt: number;
  expiresAt: number;
  /** The client's validated certificate path (DER, leaf first): re-validated on every resumption. */
  path: Buffer[];
  login: TicketLogin | null;
}

function encodeState(s: TicketState): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      psk: s.psk.toString('base64'),
      iat: s.issuedAt,
      exp: s.expiresAt,
      path: s.path.map((d) => d.toString('base64')),
      login: s.login ? { id: s.login.userId, uuid: s.login.uuid, name: s.login.username, cv: s.login.credentialVersion } : null,
    }),
    'utf8',
  );
}

function decodeState(plain: Buffer): TicketState {
  const o = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
  const login = o.login as { id: number; uuid: string; name: string; cv: number } | null;
  if (o.v !== 1 || typeof o.psk !== 'string' || typeof o.iat !== 'number' || typeof o.exp !== 'number' || !Array.isArray(o.path)) {
    throw new Error('bad ticket state');
  }
  return {
    psk: Buffer.from(o.psk, 'base64'),
    issuedAt: o.iat,
    expiresAt: o.exp,
    path: (o.path as string[]).map((d) => Buffer.from(d, 'base64')),
    login: login ? { userId: login.id, uuid: login.uuid, username: login.name, credentialVersion: login.cv } : null,
  };
}

function aad(keyId: Buffer): Buffer {
  return Buffer.concat([AAD_LABEL, Buffer.from([TICKET_FORMAT]), keyId]);
}

/** ticket = 0x01 ‖ key_id(8) ‖ iv(12) ‖ AES-256-GCM(key, iv, aad = label ‖ 0x01 ‖ key_id, state JSON) ‖ tag(16). */
export function sealTicket(key: Pick<TicketKey, 'id' | 'key'>, state: TicketState, iv: Buffer = randomBytes(IV_SIZE)): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(aad(key.id));
  const body = Buffer.concat([cipher.update(encodeState(state)), cipher.final()]);
  return Buffer.concat([Buffer.from([TICKET_FORMAT]), key.id, iv, body, cipher.getAuthTag()]);
}

/** Opens a ticket; throws resumption_refused (unknown_key, bad_ticket). */
export function openTicket(ring: TicketKeyRing, ticket: Buffer): TicketState {
  if (ticket.length < HEADER_SIZE + TAG_SIZE + 2 || ticket[0] !== TICKET_FORMAT) throw resumptionRefused('bad_ticket', 'Not a session ticket.');
  const keyId = ticket.subarray(1, 1 + TICKET_KEY_ID_SIZE);
  const key = ring.find(keyId);
  if (!key) throw resumptionRefused('unknown_key', 'The ticket key is not known here (rotated out, another server, or a restart).');
  const iv = ticket.subarray(1 + TICKET_KEY_ID_SIZE, HEADER_SIZE);
  const tag = ticket.subarray(ticket.length - TAG_SIZE);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, iv);
    decipher.setAAD(aad(keyId));
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(ticket.subarray(HEADER_SIZE, ticket.length - TAG_SIZE)), decipher.final()]);
  } catch {
    throw resumptionRefused('bad_ticket', 'The ticket does not authenticate.');
  }
  try {
    return decodeState(plain);
  } catch {
    throw resumptionRefused('bad_ticket', 'The ticket state is unreadable.');
  } finally {
    plain.fill(0);
  }
}

/** A stable, non-secret name of a ticket for the used set: key id ‖ iv (unique per sealed ticket). */
export function ticketId(ticket: Buffer): string {
  return ticket.subarray(1, HEADER_SIZE).toString('base64');
}

export interface TicketServiceOptions<P> {
  lifetimeMs: number;
  rotationMs: number;
  /** Tickets per batch (0 = resumption off). */
  perBatch: number;
  used?: UsedTicketSet;
  now?: () => number;
  /** Re-validates the ticket's certificate path now (CRL, expiry, policy); returns the peer or throws bad_certificate. */
  verifyPath: (path: Buffer[]) => P;
  /** The path's earliest notAfter (ms), so that no ticket outlives the certificate. */
  notAfterOf: (peer: P) => number;
  /** Account re-check for a ticket that carries a login: throws resumption_refused (account_disabled, credentials_changed, …). */
  checkLogin?: (login: TicketLogin) => Promise<void>;
  /** Last check before the session starts (session caps); throws to refuse. */
  admitPeer?: (peer: P) => void;
  /** The ring's keys are imported from a cluster's shared store instead of made here (TicketKeyRingOptions.external). */
  externalKeys?: boolean;
}

/** A peer identity that can say it came from a ticket, and with which login. */
export interface ResumablePeer {
  resumedLogin?: TicketLogin | null;
}

export class TicketService<P extends ResumablePeer> {
  readonly ring: TicketKeyRing;
  private readonly used: UsedTicketSet;
  private readonly now: () => number;
  readonly lifetimeMs: number;

  constructor(private readonly options: TicketServiceOptions<P>) {
    this.now = options.now ?? Date.now;
    this.lifetimeMs = Math.min(MAX_TICKET_LIFETIME_MS, options.lifetimeMs);
    this.ring = new TicketKeyRing({ rotationMs: options.rotationMs, lifetimeMs: this.lifetimeMs, now: this.now, external: options.externalKeys ?? false });
    this.used = options.used ?? new MemoryUsedTicketSet();
  }

  get enabled(): boolean {
    return this.options.perBatch > 0 && this.lifetimeMs > 0;
  }

  /**
   * A batch of tickets for `channel`'s session in its current state, or null (resumption off,
   * or the certificate expires before a ticket could be used). Lifetime: min(configured, notAfter).
   */
  issue(channel: SecureChannel<P>, peerPath: Buffer[], login: TicketLogin | null, peer: P): SessionTicketsMessage | null {
    if (!this.enabled) return null;
    const now = this.now();
    const expiresAt = Math.min(now + this.lifetimeMs, this.options.notAfterOf(peer));
    if (expiresAt - now < 1000) return null;
    const key = this.ring.current();
    const tickets: SessionTicketsMessage['tickets'] = [];
    for (let i = 0; i < Math.min(2, this.options.perBatch); i++) {
      const nonce = randomBytes(TICKET_NONCE_SIZE);
      const psk = channel.ticketPsk(nonce);
      tickets.push({ ticket: sealTicket(key, { psk, issuedAt: now, expiresAt, path: peerPath, login }), nonce });
      psk.fill(0);
    }
    return { tickets, lifetimeMs: expiresAt - now, login: login ? { uuid: login.uuid, username: login.username } : null };
  }

  /** What serverHandshake calls on a resumed hello. */
  acceptor(): ResumptionAcceptor<P> {
    return {
      open: (ticket) => {
        if (!this.enabled) throw resumptionRefused('disabled', 'This server does not resume sessions.');
        const state = openTicket(this.ring, ticket);
        // The service's clock, the one that set expiresAt (the handshake's may be another in tests).
        if (this.now() > state.expiresAt) throw resumptionRefused('expired', 'The ticket has expired.');
        return { psk: state.psk, state };
      },
      admit: async (raw, ticket) => {
        const state = raw as TicketState;
        let fresh: boolean;
        try {
          fresh = await this.used.addIfAbsent(ticketId(ticket), Math.max(1, state.expiresAt - this.now()) + 60_000);
        } catch (err) {
          throw resumptionRefused('busy', `The used-ticket set cannot take more (${toSecureChatError(err).reason ?? 'error'}).`);
        }
        if (!fresh) throw resumptionRefused('reused', 'This ticket was used before; tickets are single use.');
        let peer: P;
        try {
          peer = this.options.verifyPath(state.path);
        } catch (err) {
          const e = toSecureChatError(err);
          const reason = e.reason === 'expired' ? 'cert_expired' : e.code === 'server_crl_expired' ? 'crl_expired' : (e.reason ?? 'bad_certificate');
          throw new SecureChatError('resumption_refused', `The certificate no longer validates (${reason}).`, { reason, cause: err });
        }
        if (state.login) await this.options.checkLogin?.(state.login);
        this.options.admitPeer?.(peer);
        // The re-validated identity, plus exactly the login the ticket carried (§9.6).
        return { ...peer, resumedLogin: state.login };
      },
    };
  }
}
