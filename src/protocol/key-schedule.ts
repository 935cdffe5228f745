/**
 * The protocol v1 key schedule over any crypto provider (docs/PROTOCOL.md, "Key schedule"):
 * X25519, then HKDF-SHA256 (RFC 5869) Extract and Expand used separately, as in TLS 1.3. Shared by
 * the browser and the test vectors; the Node handshake runs the same schedule synchronously in
 * keys.ts, against the same labels and the same vectors.
 */
import { SecureChatError } from '../errors.js';
import { concatBytes, utf8 } from './bytes.js';
import type { CryptoProvider, X25519PrivateKey } from './crypto/provider.js';

export const KEY_SIZE = 32; // AES-256
export const IV_SIZE = 12; // 96-bit GCM nonce
export const X25519_SIZE = 32;

export const LABELS = {
  clientHsKey: 'securechat v1 c hs key',
  clientHsIv: 'securechat v1 c hs iv',
  serverHsKey: 'securechat v1 s hs key',
  serverHsIv: 'securechat v1 s hs iv',
  clientFinished: 'securechat v1 c finished',
  serverFinished: 'securechat v1 s finished',
  clientAppKey: 'securechat v1 c ap key',
  clientAppIv: 'securechat v1 c ap iv',
  serverAppKey: 'securechat v1 s ap key',
  serverAppIv: 'securechat v1 s ap iv',
} as const;

export interface TrafficKeyBytes {
  key: Uint8Array;
  iv: Uint8Array;
}

export interface HandshakeKeyBytes {
  hsSecret: Uint8Array;
  client: TrafficKeyBytes & { finishedKey: Uint8Array };
  server: TrafficKeyBytes & { finishedKey: Uint8Array };
}

export interface ApplicationKeyBytes {
  appSecret: Uint8Array;
  client: TrafficKeyBytes;
  server: TrafficKeyBytes;
}

/** RFC 5869 Extract: PRK = HMAC(salt, ikm). */
export function hkdfExtractWith(p: CryptoProvider, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
  return Promise.resolve(p.hmacSha256(salt, ikm));
}

/** RFC 5869 Expand with an ASCII label as `info`. */
export async function hkdfExpandWith(p: CryptoProvider, prk: Uint8Array, label: string, length: number): Promise<Uint8Array> {
  const info = utf8(label);
  const blocks: Uint8Array[] = [];
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 1; blocks.length * 32 < length; i++) {
    previous = await p.hmacSha256(prk, concatBytes(previous, info, Uint8Array.of(i)));
    blocks.push(previous);
  }
  return concatBytes(...blocks).slice(0, length);
}

/** SHA-256 over the concatenation of the exact bytes sent. */
export async function transcriptHashWith(p: CryptoProvider, ...parts: Uint8Array[]): Promise<Uint8Array> {
  return p.sha256(concatBytes(...parts));
}

/** hs_secret = HKDF-Extract(salt = SHA256(client_hello ‖ server_hello), ikm = X25519 shared). */
export async function scheduleHandshake(p: CryptoProvider, shared: Uint8Array, clientHello: Uint8Array, serverHello: Uint8Array): Promise<HandshakeKeyBytes> {
  const hsSecret = await hkdfExtractWith(p, await transcriptHashWith(p, clientHello, serverHello), shared);
  const x = (label: string, n: number) => hkdfExpandWith(p, hsSecret, label, n);
  return {
    hsSecret,
    client: { key: await x(LABELS.clientHsKey, KEY_SIZE), iv: await x(LABELS.clientHsIv, IV_SIZE), finishedKey: await x(LABELS.clientFinished, 32) },
    server: { key: await x(LABELS.serverHsKey, KEY_SIZE), iv: await x(LABELS.serverHsIv, IV_SIZE), finishedKey: await x(LABELS.serverFinished, 32) },
  };
}

/** app_secret = HKDF-Extract(salt = SHA256(full transcript), ikm = hs_secret). */
export async function scheduleApplication(p: CryptoProvider, hsSecret: Uint8Array, transcriptHash: Uint8Array): Promise<ApplicationKeyBytes> {
  const appSecret = await hkdfExtractWith(p, transcriptHash, hsSecret);
  const x = (label: string, n: number) => hkdfExpandWith(p, appSecret, label, n);
  return {
    appSecret,
    client: { key: await x(LABELS.clientAppKey, KEY_SIZE), iv: await x(LABELS.clientAppIv, IV_SIZE) },
    server: { key: await x(LABELS.serverAppKey, KEY_SIZE), iv: await x(LABELS.serverAppIv, IV_SIZE) },
  };
}

/** X25519 with the peer's raw 32-byte share; an all-zero result (low-order point) is refused. */
export async function sharedSecretWith(p: CryptoProvider, privateKey: X25519PrivateKey, peerRaw: Uint8Array): Promise<Uint8Array> {
  if (peerRaw.length !== X25519_SIZE) throw new SecureChatError('malformed', 'Bad key share.', { reason: 'bad_key_share' });
  let shared: Uint8Array;
  try {
    shared = await p.x25519(privateKey, peerRaw);
  } catch (cause) {
    throw new SecureChatError('malformed', 'Bad key share.', { reason: 'bad_key_share', cause });
  }
  if (shared.every((v) => v === 0)) throw new SecureChatError('malformed', 'Key share yields an all-zero secret.', { reason: 'bad_key_share' });
  return shared;
}
