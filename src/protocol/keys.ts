/**
 * Key schedule of protocol v1 (see docs/PROTOCOL.md, "Key schedule"): ephemeral X25519, then
 * HKDF-SHA256 (RFC 5869) with Extract and Expand used separately, as in TLS 1.3. This is the
 * synchronous node:crypto form the server runs; key-schedule.ts is the same schedule over any
 * crypto provider (the browser's), and both pass the docs/PROTOCOL.md vectors.
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { SecureChatError } from '../errors.js';
import { IV_SIZE, KEY_SIZE, LABELS, X25519_SIZE } from './key-schedule.js';

export { IV_SIZE, KEY_SIZE, LABELS, X25519_SIZE } from './key-schedule.js';

export function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

export function hmacSha256(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** RFC 5869 Extract: PRK = HMAC(salt, ikm). */
export function hkdfExtract(salt: Buffer, ikm: Buffer): Buffer {
  return hmacSha256(salt, ikm);
}

/** RFC 5869 Expand with an ASCII label as `info`. */
export function hkdfExpand(prk: Buffer, label: string, length: number): Buffer {
  const info = Buffer.from(label, 'ascii');
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < length; i++) {
    previous = createHmac('sha256', prk).update(previous).update(info).update(Buffer.from([i])).digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

export interface TrafficKeys {
  key: Buffer;
  iv: Buffer;
}

export interface HandshakeSecrets {
  hsSecret: Buffer;
  client: TrafficKeys & { finishedKey: Buffer };
  server: TrafficKeys & { finishedKey: Buffer };
}

export interface ApplicationSecrets {
  appSecret: Buffer;
  client: TrafficKeys;
  server: TrafficKeys;
}

/** hs_secret = HKDF-Extract(salt = SHA256(client_hello ‖ server_hello), ikm = X25519 shared). */
export function deriveHandshakeSecrets(shared: Buffer, clientHello: Buffer, serverHello: Buffer): HandshakeSecrets {
  const hsSecret = hkdfExtract(sha256(clientHello, serverHello), shared);
  return {
    hsSecret,
    client: {
      key: hkdfExpand(hsSecret, LABELS.clientHsKey, KEY_SIZE),
      iv: hkdfExpand(hsSecret, LABELS.clientHsIv, IV_SIZE),
      finishedKey: hkdfExpand(hsSecret, LABELS.clientFinished, 32),
    },
    server: {
      key: hkdfExpand(hsSecret, LABELS.serverHsKey, KEY_SIZE),
      iv: hkdfExpand(hsSecret, LABELS.serverHsIv, IV_SIZE),
      finishedKey: hkdfExpand(hsSecret, LABELS.serverFinished, 32),
    },
  };
}

/** app_secret = HKDF-Extract(salt = SHA256(full transcript), ikm = hs_secret). */
export function deriveApplicationSecrets(hsSecret: Buffer, transcriptHash: Buffer): ApplicationSecrets {
  const appSecret = hkdfExtract(transcriptHash, hsSecret);
  return {
    appSecret,
    client: { key: hkdfExpand(appSecret, LABELS.clientAppKey, KEY_SIZE), iv: hkdfExpand(appSecret, LABELS.clientAppIv, IV_SIZE) },
    server: { key: hkdfExpand(appSecret, LABELS.serverAppKey, KEY_SIZE), iv: hkdfExpand(appSecret, LABELS.serverAppIv, IV_SIZE) },
  };
}

/** Overwrites secret buffers so they do not linger in memory after use. */
export function erase(...buffers: Buffer[]): void {
  for (const b of buffers) b.fill(0);
}

/**
 * A copy of `source` in memory of its own, never a slice of Node's shared 8 KiB Buffer pool: a
 * secret a session keeps for its whole life must not pin a pool chunk full of the handshake's dead
 * temporaries (measured: one 8 KiB chunk held per idle session by the record keys and res_master).
 */
export function ownedCopy(source: Buffer): Buffer {
  const copy = Buffer.alloc(source.length);
  source.copy(copy);
  return copy;
}

export function eraseHandshakeSecrets(s: HandshakeSecrets): void {
  erase(s.hsSecret, s.client.key, s.client.iv, s.client.finishedKey, s.server.key, s.server.iv, s.server.finishedKey);
}

export interface KeyShare {
  privateKey: KeyObject;
  publicRaw: Buffer;
}

export function generateKeyShare(): KeyShare {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicRaw: x25519PublicRaw(publicKey) };
}

// PKCS#8 wrapper of a raw X25519 private key (RFC 8410).
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** Builds a key share from a fixed 32-byte private scalar (known-answer tests only). */
export function keyShareFromPrivate(raw: Buffer): KeyShare {
  if (raw.length !== X25519_SIZE) throw new SecureChatError('bad_input', 'X25519 private keys are 32 bytes.');
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicRaw: x25519PublicRaw(createPublicKey(privateKey)) };
}

export function x25519PublicRaw(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url');
}

/** X25519 with the peer's raw 32-byte share; an all-zero result (low-order point) is refused. */
export function computeSharedSecret(privateKey: KeyObject, peerRaw: Buffer): Buffer {
  if (peerRaw.length !== X25519_SIZE) throw new SecureChatError('malformed', 'Bad key share.', { reason: 'bad_key_share' });
  let shared: Buffer;
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peerRaw.toString('base64url') }, format: 'jwk' });
    shared = diffieHellman({ privateKey, publicKey });
  } catch (cause) {
    throw new SecureChatError('malformed', 'Bad key share.', { reason: 'bad_key_share', cause });
  }
  if (shared.every((b) => b === 0)) {
    throw new SecureChatError('malformed', 'Key share yields an all-zero secret.', { reason: 'bad_key_share' });
  }
  return shared;
}
