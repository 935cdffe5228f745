/**
 * The Node provider: node:crypto, every method synchronous (the server's per-record path must not
 * pay for a promise). Private keys are KeyObjects behind the provider's opaque handles.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  constants,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { AeadKey, SigningKey, SyncCryptoProvider, X25519PrivateKey } from './provider.js';
import { spkiAlgorithm } from './spki.js';

const TAG_SIZE = 16;
// PKCS#8 wrapper of a raw X25519 private key (RFC 8410).
export const X25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

const asKey = (h: unknown): KeyObject => h as KeyObject;
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

function x25519Pair(privateKey: KeyObject): { privateKey: X25519PrivateKey; publicRaw: Uint8Array } {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey: privateKey as unknown as X25519PrivateKey, publicRaw: u8(Buffer.from(jwk.x as string, 'base64url')) };
}

function signParams(spkiAlg: ReturnType<typeof spkiAlgorithm>): { algorithm: string | null; options: Record<string, unknown> } {
  switch (spkiAlg) {
    case 'ecdsa-p256':
      return { algorithm: 'sha256', options: { dsaEncoding: 'der' } };
    case 'ecdsa-p384':
      return { algorithm: 'sha384', options: { dsaEncoding: 'der' } };
    case 'ecdsa-p521':
      return { algorithm: 'sha512', options: { dsaEncoding: 'der' } };
    case 'ed25519':
      return { algorithm: null, options: {} };
    case 'rsa-pss':
      return { algorithm: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } };
  }
}

export const nodeCrypto: SyncCryptoProvider = {
  name: 'node',
  randomBytes: (length) => u8(randomBytes(length)),
  sha256: (data) => u8(createHash('sha256').update(data).digest()),
  hmacSha256: (key, data) => u8(createHmac('sha256', key).update(data).digest()),

  x25519Generate: () => x25519Pair(generateKeyPairSync('x25519').privateKey),
  x25519FromPrivate: (raw) => {
    const der = Buffer.concat([X25519_PKCS8_PREFIX, raw]);
    return x25519Pair(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  },
  x25519: (privateKey, peer) => {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peer).toString('base64url') }, format: 'jwk' });
    return u8(diffieHellman({ privateKey: asKey(privateKey), publicKey }));
  },

  // Node takes the raw key on every call; the "handle" is a private copy of the bytes.
  aesGcmKey: (raw) => Buffer.from(raw) as unknown as AeadKey,
  aesGcmSeal: (key, nonce, aad, plaintext) => {
    const cipher = createCipheriv('aes-256-gcm', key as unknown as Buffer, nonce);
    cipher.setAAD(aad);
    const out = Buffer.allocUnsafe(plaintext.length + TAG_SIZE);
    const n = cipher.update(plaintext).copy(out, 0);
    cipher.final();
    cipher.getAuthTag().copy(out, n);
    return u8(out);
  },
  aesGcmOpen: (key, nonce, aad, sealed) => {
    if (sealed.length < TAG_SIZE) throw new Error('sealed data too short');
    const decipher = createDecipheriv('aes-256-gcm', key as unknown as Buffer, nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE));
    decipher.final();
    return u8(plain);
  },

  p256Generate: () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    return { privateKey: privateKey as unknown as SigningKey, spki: u8(publicKey.export({ format: 'der', type: 'spki' })) };
  },
  importSigningKey: (pkcs8) => createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }) as unknown as SigningKey,
  sign: (handle, data) => {
    const key = asKey(handle);
    const spki = u8(createPublicKey(key).export({ format: 'der', type: 'spki' }));
    const { algorithm, options } = signParams(spkiAlgorithm(spki));
    return u8(sign(algorithm, data, { key, ...options }));
  },
  verify: (spki, data, signature) => {
    try {
      const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
      const { algorithm, options } = signParams(spkiAlgorithm(spki));
      return verify(algorithm, data, { key, ...options }, signature);
    } catch {
      return false;
    }
  },
};
