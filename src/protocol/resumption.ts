/**
 * Session resumption (docs/PROTOCOL.md §9): the key schedule of a resumed handshake (TLS 1.3
 * psk_dhe_ke: a PSK from an earlier session mixed with a fresh X25519 exchange), the binder that
 * proves the client holds the PSK, and the wire shapes of the resumed hello, the finished
 * messages and the ticket push. The ticket itself is opaque here: only the server opens it
 * (server/tickets.ts). Built from the HKDF/HMAC helpers of keys.ts, like the full schedule.
 */
import { SecureChatError } from '../errors.js';
import { deriveHandshakeSecrets, hkdfExpand, hkdfExtract, hmacSha256, sha256, type HandshakeSecrets } from './keys.js';
import { b64, encodeJson, parseClientHello, parseJsonObject, MAX_HELLO_BYTES, type ClientHello } from './messages.js';

export const RESUMPTION_LABELS = {
  resMaster: 'securechat v1 res master',
  psk: 'securechat v1 res psk',
  binder: 'securechat v1 res binder',
  derived: 'securechat v1 res derived',
} as const;

export const TICKET_NONCE_SIZE = 16;
/** Base64 characters of a ticket in a hello or a push (the hello's 16 KiB bound applies too). */
export const MAX_TICKET_B64 = 12 * 1024;
/** Tickets in one `session_tickets` push. */
export const MAX_TICKETS_PER_PUSH = 2;
const ZERO_SALT = Buffer.alloc(32);

/** res_master = HKDF-Expand(app_secret, "securechat v1 res master", 32): kept by both sides for the session's life. */
export function deriveResumptionMaster(appSecret: Buffer): Buffer {
  return hkdfExpand(appSecret, RESUMPTION_LABELS.resMaster, 32);
}

/** psk = HKDF-Expand(HKDF-Extract(salt = ticket_nonce, ikm = res_master), "securechat v1 res psk", 32). */
export function deriveTicketPsk(resMaster: Buffer, ticketNonce: Buffer): Buffer {
  if (ticketNonce.length !== TICKET_NONCE_SIZE) throw new SecureChatError('malformed', 'Bad ticket nonce.', { reason: 'bad_length' });
  return hkdfExpand(hkdfExtract(ticketNonce, resMaster), RESUMPTION_LABELS.psk, 32);
}

export interface EarlySecrets {
  earlySecret: Buffer;
  binderKey: Buffer;
  /** Salt of the DHE extract: ties the handshake secret to the PSK. */
  derived: Buffer;
}

/** early_secret = HKDF-Extract(0³², psk); binder_key and derived are its two expansions. */
export function deriveEarlySecrets(psk: Buffer): EarlySecrets {
  const earlySecret = hkdfExtract(ZERO_SALT, psk);
  return {
    earlySecret,
    binderKey: hkdfExpand(earlySecret, RESUMPTION_LABELS.binder, 32),
    derived: hkdfExpand(earlySecret, RESUMPTION_LABELS.derived, 32),
  };
}

/** binder = HMAC-SHA256(binder_key, SHA256(CH truncated just before the binder's value)). */
export function computeBinder(binderKey: Buffer, partialHello: Buffer): Buffer {
  return hmacSha256(binderKey, sha256(partialHello));
}

/**
 * dhe_secret = HKDF-Extract(salt = derived, ikm = X25519 shared); the handshake secret and keys
 * then follow exactly as in the full schedule with dhe_secret in place of the shared secret.
 */
export function deriveResumedHandshakeSecrets(early: EarlySecrets, shared: Buffer, clientHello: Buffer, serverHello: Buffer): HandshakeSecrets & { dheSecret: Buffer } {
  const dheSecret = hkdfExtract(early.derived, shared);
  return { ...deriveHandshakeSecrets(dheSecret, clientHello, serverHello), dheSecret };
}

/** server finished = HMAC(s_finished_key, SHA256(CH ‖ SH ‖ server_cert_sha256)). */
export function serverFinishedMac(finishedKey: Buffer, clientHello: Buffer, serverHello: Buffer, serverCertSha256: Buffer): Buffer {
  return hmacSha256(finishedKey, sha256(clientHello, serverHello, serverCertSha256));
}

/** client finished = HMAC(c_finished_key, SHA256(CH ‖ SH ‖ SF)). */
export function clientFinishedMac(finishedKey: Buffer, clientHello: Buffer, serverHello: Buffer, serverFinished: Buffer): Buffer {
  return hmacSha256(finishedKey, sha256(clientHello, serverHello, serverFinished));
}

// --- the resumed client_hello ---

const BINDER_SUFFIX_CHARS = 44 + 2; // `"` ‖ base64 of 32 bytes ‖ `"`, then the closing `}`

export interface ResumedHelloParts {
  /** Every hello field but ticket and binder (type, version, nonce, timestamp, key_share, …). */
  fields: Record<string, unknown>;
  ticket: Buffer;
}

/**
 * Builds the resumed client_hello: `ticket` and then `binder` as the last member, so the bytes the
 * binder covers are exactly the hello up to (and including) `"binder":`.
 */
export function encodeResumedHello(parts: ResumedHelloParts, binderKey: Buffer): { bytes: Buffer; partial: Buffer } {
  const head = encodeJson({ ...parts.fields, ticket: parts.ticket.toString('base64') });
  const partial = Buffer.concat([head.subarray(0, head.length - 1), Buffer.from(',"binder":', 'ascii')]);
  const binder = computeBinder(binderKey, partial);
  return { bytes: Buffer.concat([partial, Buffer.from(`"${binder.toString('base64')}"}`, 'ascii')]), partial };
}

export interface ResumedClientHello extends ClientHello {
  ticket: Buffer;
  binder: Buffer;
  /** The hello bytes the binder covers. */
  partial: Buffer;
}

function refused(reason: string, message: string): SecureChatError {
  return new SecureChatError('resumption_refused', message, { reason });
}

/** True when a client_hello offers a ticket (a cheap look before the strict parse). */
export function offersTicket(bytes: Buffer): boolean {
  return bytes.length <= MAX_HELLO_BYTES && bytes.includes('"binder":"');
}

/**
 * Strict parse of a resumed hello: the full hello's rules, plus `ticket` and `binder`, and the
 * binder must be the very last member (the bytes before its value are what it covers).
 */
export function parseResumedHello(bytes: Buffer): ResumedClientHello {
  const obj = parseJsonObject(bytes, MAX_HELLO_BYTES);
  const ticket = b64(obj, 'ticket', MAX_TICKET_B64);
  const binder = b64(obj, 'binder', 64, 32);
  if (ticket.length === 0) throw new SecureChatError('malformed', 'Empty ticket.', { reason: 'bad_length' });
  const suffix = `"${binder.toString('base64')}"}`;
  const cut = bytes.length - BINDER_SUFFIX_CHARS - 1;
  if (cut <= 0 || bytes.subarray(cut).toString('latin1') !== suffix || !bytes.subarray(0, cut).toString('latin1').endsWith(',"binder":')) {
    throw new SecureChatError('malformed', 'The binder must be the last member of the client_hello.', { reason: 'binder_not_last' });
  }
  const rest: Record<string, unknown> = { ...obj };
  delete rest.ticket;
  delete rest.binder;
  const hello = parseClientHello(encodeJson(rest));
  return { ...hello, ticket, binder, partial: bytes.subarray(0, cut) };
}

// --- resumed server_hello and the two finished messages ---

export function encodeResumedServerHello(fields: { version: number; nonce: Buffer; keyShare: Buffer }): Buffer {
  return encodeJson({
    type: 'server_hello',
    status: 'ok',
    version: fields.version,
    nonce: fields.nonce.toString('base64'),
    key_share: fields.keyShare.toString('base64'),
    psk: 'accepted',
  });
}

/** The client's view of the answer to a resumed hello: it must say `psk:"accepted"`; a plain server_hello is refused. */
export function parseResumedServerHello(bytes: Buffer, parseFull: (b: Buffer) => { nonce: Buffer; keyShare: Buffer; version: number }) {
  const obj = parseJsonObject(bytes, MAX_HELLO_BYTES);
  if (obj.type === 'server_hello' && obj.psk !== 'accepted') {
    throw new SecureChatError('unexpected_message', 'The server answered a resumed hello without accepting the ticket.', { reason: 'psk_not_accepted' });
  }
  const rest: Record<string, unknown> = { ...obj };
  delete rest.psk;
  return parseFull(obj.type === 'server_hello' ? encodeJson(rest) : bytes);
}

export function encodeServerFinished(serverCertSha256: Buffer, finished: Buffer): Buffer {
  return encodeJson({ type: 'server_finished', server_certificate_sha256: serverCertSha256.toString('base64'), finished: finished.toString('base64') });
}

export function parseServerFinished(bytes: Buffer): { serverCertSha256: Buffer; finished: Buffer } {
  const obj = parseJsonObject(bytes, 1024);
  expectExact(obj, 'server_finished', ['type', 'server_certificate_sha256', 'finished']);
  return { serverCertSha256: b64(obj, 'server_certificate_sha256', 64, 32), finished: b64(obj, 'finished', 64, 32) };
}

export function encodeClientFinished(finished: Buffer): Buffer {
  return encodeJson({ type: 'client_finished', finished: finished.toString('base64') });
}

export function parseClientFinished(bytes: Buffer): Buffer {
  const obj = parseJsonObject(bytes, 1024);
  expectExact(obj, 'client_finished', ['type', 'finished']);
  return b64(obj, 'finished', 64, 32);
}

function expectExact(obj: Record<string, unknown>, type: string, fields: string[]): void {
  if (obj.type !== type) throw new SecureChatError('unexpected_message', `Expected ${type}.`);
  const keys = Object.keys(obj);
  if (keys.length !== fields.length || !fields.every((f) => keys.includes(f))) {
    throw new SecureChatError('malformed', `${type} has a wrong field set.`, { reason: 'schema' });
  }
}

// --- the ticket push (an application message) ---

/** What a resumed session carries besides the certificate identity: the login, if the ticket was issued after one. */
export interface TicketLoginView {
  uuid: string;
  username: string;
}

export interface SessionTicketsMessage {
  tickets: { ticket: Buffer; nonce: Buffer }[];
  lifetimeMs: number;
  login: TicketLoginView | null;
}

export function sessionTicketsMessage(m: SessionTicketsMessage): { type: 'session_tickets'; [k: string]: unknown } {
  return {
    type: 'session_tickets',
    tickets: m.tickets.map((t) => ({ ticket: t.ticket.toString('base64'), nonce: t.nonce.toString('base64') })),
    lifetime_ms: m.lifetimeMs,
    login: m.login,
  };
}

export function parseSessionTickets(msg: Record<string, unknown>): SessionTicketsMessage {
  const bad = (what: string): SecureChatError => new SecureChatError('malformed', `session_tickets: ${what}.`, { reason: 'schema' });
  const list = msg.tickets;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_TICKETS_PER_PUSH) throw bad('tickets must be an array of 1..2');
  const tickets = list.map((t: unknown) => {
    if (!t || typeof t !== 'object') throw bad('ticket entry');
    const o = t as Record<string, unknown>;
    return { ticket: b64(o, 'ticket', MAX_TICKET_B64), nonce: b64(o, 'nonce', 64, TICKET_NONCE_SIZE) };
  });
  const lifetimeMs = msg.lifetime_ms;
  if (typeof lifetimeMs !== 'number' || !Number.isSafeInteger(lifetimeMs) || lifetimeMs <= 0) throw bad('lifetime_ms');
  let login: TicketLoginView | null = null;
  if (msg.login !== null) {
    const l = msg.login as Record<string, unknown> | undefined;
    if (!l || typeof l.uuid !== 'string' || typeof l.username !== 'string') throw bad('login');
    login = { uuid: l.uuid, username: l.username };
  }
  return { tickets, lifetimeMs, login };
}

export { refused as resumptionRefused };
