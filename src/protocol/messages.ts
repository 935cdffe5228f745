/**
 * Handshake message schemas and strict validation. Every input is size-checked before it is
 * decoded, nesting depth is checked before JSON.parse, unknown or missing fields are refused with
 * `malformed`, and a version other than 1 with `unsupported_version`.
 */
import { ERROR_CATALOGUE, SecureChatError, isErrorCode, type ErrorCode } from '../errors.js';
import { fromBase64, toBase64 } from './bytes.js';
import { PROTOCOL_VERSION } from './types.js';

export const MAX_HELLO_BYTES = 16 * 1024;
export const MAX_AUTH_BYTES = 64 * 1024;
export const MAX_CHAIN_LENGTH = 8;
export const MAX_CERT_B64 = 16 * 1024;
export const MAX_SIGNATURE_B64 = 1024; // RSA-4096 signature = 684 base64 chars
export const MAX_JSON_DEPTH = 32;
const MAX_SHORT_STRING = 256;
const MAX_MESSAGE_STRING = 1024;

export interface ClientHello {
  type: 'client_hello';
  version: number;
  nonce: Buffer;
  timestamp: number;
  keyShare: Buffer;
  clientId?: string;
}

export interface ServerHello<B extends Uint8Array = Buffer> {
  type: 'server_hello';
  version: number;
  nonce: B;
  keyShare: B;
}

export interface AuthMessage<B extends Uint8Array = Buffer> {
  type: 'server_auth' | 'client_auth';
  certificate: B[];
  signature: B;
  finished: B;
}

/**
 * How base64 fields become bytes: Buffers on Node (the server's hot path), plain Uint8Arrays in
 * the browser (no Buffer there). Either way the text must be canonical: re-encoding gives it back.
 */
export interface B64Codec<B extends Uint8Array> {
  decode(text: string): B;
  encode(bytes: B): string;
}
const bufferCodec: B64Codec<Buffer> = { decode: (s) => Buffer.from(s, 'base64'), encode: (b) => b.toString('base64') };
/** The codec of the browser's code paths (bytes.ts, no Buffer). */
export const uint8Codec: B64Codec<Uint8Array> = { decode: fromBase64, encode: toBase64 };

export interface WireError {
  type: 'error';
  code: string;
  reason?: string;
  message?: string;
}

function malformed(message: string, reason = 'schema'): SecureChatError {
  return new SecureChatError('malformed', message, { reason });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Nesting depth of a JSON text, counted outside strings without parsing (so JSON.parse never sees deep input). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) i = endOfString(text, i);
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * Index of the quote closing the string opened at `open` (or the end of the text). Jumps with
 * indexOf instead of walking every character: a quote is escaped when an odd run of backslashes
 * precedes it. Message bodies are mostly string content, so this is the depth check's hot loop.
 */
function endOfString(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return q;
    from = q + 1;
  }
}

/** UTF-8 JSON object from bytes, with size and depth limits checked first. */
export function parseJsonObject(bytes: Uint8Array, maxBytes: number, maxDepth = MAX_JSON_DEPTH): Record<string, unknown> {
  if (bytes.length > maxBytes) throw malformed(`Message larger than ${maxBytes} bytes.`, 'too_large');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw malformed('Message is not valid UTF-8.', 'not_utf8');
  }
  if (jsonDepth(text) > maxDepth) throw malformed('JSON nested too deeply.', 'too_deep');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed('Message is not valid JSON.', 'not_json');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed('Message is not a JSON object.');
  return value as Record<string, unknown>;
}

function checkFields(obj: Record<string, unknown>, required: string[], optional: string[] = []): void {
  for (const f of required) if (!Object.prototype.hasOwnProperty.call(obj, f)) throw malformed(`Missing field "${f}".`, 'missing_field');
  const allowed = new Set([...required, ...optional]);
  for (const f of Object.keys(obj)) if (!allowed.has(f)) throw malformed(`Unknown field "${f.slice(0, 64)}".`, 'unknown_field');
}

function str(obj: Record<string, unknown>, field: string, maxLength: number): string {
  const v = obj[field];
  if (typeof v !== 'string') throw malformed(`Field "${field}" must be a string.`, 'wrong_type');
  if (v.length > maxLength) throw malformed(`Field "${field}" too long.`, 'too_long');
  return v;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64: canonical alphabet and padding, and (optionally) an exact decoded length. */
export function b64(obj: Record<string, unknown>, field: string, maxChars: number, exactBytes?: number): Buffer {
  const s = str(obj, field, maxChars);
  return decodeB64(s, field, exactBytes, bufferCodec);
}

function decodeB64<B extends Uint8Array>(s: string, field: string, exactBytes: number | undefined, codec: B64Codec<B>): B {
  if (s.length % 4 !== 0 || !BASE64.test(s)) throw malformed(`Field "${field}" is not base64.`, 'bad_base64');
  const buf = codec.decode(s);
  if (codec.encode(buf) !== s) throw malformed(`Field "${field}" is not canonical base64.`, 'bad_base64');
  if (exactBytes !== undefined && buf.length !== exactBytes) throw malformed(`Field "${field}" must be ${exactBytes} bytes.`, 'bad_length');
  return buf;
}

function checkType(obj: Record<string, unknown>, expected: string): void {
  if (obj.type !== expected) {
    throw new SecureChatError('unexpected_message', `Expected ${expected}.`, { reason: typeof obj.type === 'string' ? obj.type.slice(0, 32) : 'no_type' });
  }
}

function checkVersion(obj: Record<string, unknown>): number {
  const v = obj.version;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw malformed('Field "version" must be an integer.', 'wrong_type');
  if (v !== PROTOCOL_VERSION) {
    throw new SecureChatError('unsupported_version', `Unsupported protocol version ${v}; this peer speaks ${PROTOCOL_VERSION}.`, {
      details: { supported: [PROTOCOL_VERSION] },
    });
  }
  return v;
}

export function parseClientHello(bytes: Buffer): ClientHello {
  const obj = parseJsonObject(bytes, MAX_HELLO_BYTES);
  checkType(obj, 'client_hello');
  // Version first: a future version may legitimately carry other fields.
  const version = checkVersion(obj);
  checkFields(obj, ['type', 'version', 'nonce', 'timestamp', 'key_share'], ['client_id']);
  const timestamp = obj.timestamp;
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw malformed('Field "timestamp" must be a non-negative integer (ms).', 'wrong_type');
  }
  const hello: ClientHello = {
    type: 'client_hello',
    version,
    nonce: b64(obj, 'nonce', 64, 32),
    timestamp,
    keyShare: b64(obj, 'key_share', 64, 32),
  };
  if (obj.client_id !== undefined) hello.clientId = str(obj, 'client_id', 128);
  return hello;
}

/** The server's reply: a server_hello or a plaintext error sent before any key exists. */
export function parseServerHello(bytes: Buffer): ServerHello;
export function parseServerHello<B extends Uint8Array>(bytes: Uint8Array, codec: B64Codec<B>): ServerHello<B>;
export function parseServerHello(bytes: Uint8Array, codec: B64Codec<Uint8Array> = bufferCodec as B64Codec<Uint8Array>): ServerHello<Uint8Array> {
  const obj = parseJsonObject(bytes, MAX_HELLO_BYTES);
  if (obj.type === 'error') throw wireErrorToException(parseWireError(obj));
  checkType(obj, 'server_hello');
  const version = checkVersion(obj);
  checkFields(obj, ['type', 'status', 'version', 'nonce', 'key_share']);
  if (obj.status !== 'ok') throw malformed('Field "status" must be "ok".', 'wrong_type');
  const field = (name: string): Uint8Array => decodeB64(str(obj, name, 64), name, 32, codec);
  return { type: 'server_hello', version, nonce: field('nonce'), keyShare: field('key_share') };
}

export function parseAuthMessage(bytes: Buffer, expected: 'server_auth' | 'client_auth'): AuthMessage;
export function parseAuthMessage<B extends Uint8Array>(bytes: Uint8Array, expected: 'server_auth' | 'client_auth', codec: B64Codec<B>): AuthMessage<B>;
export function parseAuthMessage(
  bytes: Uint8Array,
  expected: 'server_auth' | 'client_auth',
  codec: B64Codec<Uint8Array> = bufferCodec as B64Codec<Uint8Array>,
): AuthMessage<Uint8Array> {
  const obj = parseJsonObject(bytes, MAX_AUTH_BYTES);
  checkType(obj, expected);
  checkFields(obj, ['type', 'certificate', 'signature', 'finished']);
  const chain = obj.certificate;
  if (!Array.isArray(chain) || chain.length === 0 || chain.length > MAX_CHAIN_LENGTH) {
    throw malformed(`Field "certificate" must be an array of 1..${MAX_CHAIN_LENGTH} base64 DER certificates.`, 'wrong_type');
  }
  const certificate = chain.map((c, i) => {
    if (typeof c !== 'string' || c.length === 0 || c.length > MAX_CERT_B64) throw malformed(`certificate[${i}] must be base64 DER.`, 'wrong_type');
    return decodeB64(c, `certificate[${i}]`, undefined, codec);
  });
  return {
    type: expected,
    certificate,
    signature: decodeB64(str(obj, 'signature', MAX_SIGNATURE_B64), 'signature', undefined, codec),
    finished: decodeB64(str(obj, 'finished', 64), 'finished', 32, codec),
  };
}

export function parseWireError(obj: Record<string, unknown>): WireError {
  const code = typeof obj.code === 'string' ? obj.code.slice(0, 64) : 'internal';
  const err: WireError = { type: 'error', code };
  if (typeof obj.reason === 'string') err.reason = obj.reason.slice(0, MAX_SHORT_STRING);
  if (typeof obj.message === 'string') err.message = obj.message.slice(0, MAX_MESSAGE_STRING);
  return err;
}

/** A peer's error as a local exception; codes outside the catalogue become `internal`. */
export function wireErrorToException(err: WireError): SecureChatError {
  const code: ErrorCode = isErrorCode(err.code) ? err.code : 'internal';
  return new SecureChatError(code, err.message, { ...(err.reason !== undefined ? { reason: err.reason } : {}), details: { fromPeer: true } });
}

/** The wire form of a local error; `internal` errors never leak their message, only the catalogue's. */
export function encodeWireError(err: SecureChatError): Buffer {
  const message = err.code === 'internal' ? ERROR_CATALOGUE.internal.message : err.message;
  return Buffer.from(JSON.stringify({ type: 'error', code: err.code, ...(err.reason !== undefined ? { reason: err.reason } : {}), message }));
}

export function parseWelcome(obj: Record<string, unknown>): { sessionId: string; serverTime: number } {
  checkType(obj, 'welcome');
  checkFields(obj, ['type', 'session_id', 'server_time']);
  const serverTime = obj.server_time;
  if (typeof serverTime !== 'number' || !Number.isFinite(serverTime)) throw malformed('Field "server_time" must be a number.', 'wrong_type');
  return { sessionId: str(obj, 'session_id', MAX_SHORT_STRING), serverTime };
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
