/**
 * Transcript signatures with the certificate's key. The algorithm follows the key: P-256 →
 * ECDSA/SHA-256, P-384 → ECDSA/SHA-384, P-521 → ECDSA/SHA-512 (DER signatures), Ed25519 → pure
 * EdDSA, RSA → RSA-PSS/SHA-256 with a 32-byte salt.
 */
import { X509Certificate, constants, sign, verify, type KeyObject } from 'node:crypto';
import { SecureChatError } from '../errors.js';

export { CLIENT_CONTEXT, SERVER_CONTEXT } from './signature-context.js';

interface SignatureParams {
  algorithm: string | null;
  options: Record<string, unknown>;
}

/** Reading asymmetricKeyDetails crosses into C++ each time; a key's parameters never change. */
const paramsCache = new WeakMap<KeyObject, SignatureParams>();

function paramsFor(key: KeyObject): SignatureParams {
  let params = paramsCache.get(key);
  if (!params) {
    params = computeParams(key);
    paramsCache.set(key, params);
  }
  return params;
}

function computeParams(key: KeyObject): SignatureParams {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const hash = curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : curve === 'prime256v1' ? 'sha256' : undefined;
      if (!hash) break;
      return { algorithm: hash, options: { dsaEncoding: 'der' } };
    }
    case 'ed25519':
      return { algorithm: null, options: {} };
    case 'rsa':
    case 'rsa-pss':
      return { algorithm: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } };
  }
  throw new SecureChatError('bad_certificate', 'Unsupported certificate key type.', { reason: 'unsupported_key' });
}

/** context ‖ 0x00 ‖ transcript hash: the distinct contexts stop a server signature being reflected as a client's. */
export function signedContent(context: string, transcriptHash: Buffer): Buffer {
  return Buffer.concat([Buffer.from(context, 'ascii'), Buffer.of(0), transcriptHash]);
}

export function signTranscript(privateKey: KeyObject, context: string, transcriptHash: Buffer): Buffer {
  const { algorithm, options } = paramsFor(privateKey);
  return sign(algorithm, signedContent(context, transcriptHash), { key: privateKey, ...options });
}

/**
 * Parsing a certificate with X509Certificate costs more than the signature check itself, and the
 * same few client certificates reconnect all day, so public keys are remembered by their DER bytes
 * (the key IS a function of those bytes). Bounded, oldest first out.
 */
const PUBLIC_KEY_CACHE_LIMIT = 4096;
const publicKeys = new Map<string, KeyObject>();

/** The leaf's public key; a certificate that does not parse is a bad certificate, not a crash. */
export function leafPublicKey(leafDer: Buffer): KeyObject {
  const cacheKey = leafDer.toString('latin1');
  const hit = publicKeys.get(cacheKey);
  if (hit) return hit;
  let key: KeyObject;
  try {
    key = new X509Certificate(leafDer).publicKey;
  } catch (cause) {
    throw new SecureChatError('bad_certificate', 'The certificate could not be parsed.', { reason: 'malformed', cause });
  }
  publicKeys.set(cacheKey, key);
  if (publicKeys.size > PUBLIC_KEY_CACHE_LIMIT) publicKeys.delete(publicKeys.keys().next().value as string);
  return key;
}

/** Throws bad_certificate/key_mismatch unless the leaf's key signed this transcript. */
export function verifyTranscript(leafDer: Buffer, context: string, transcriptHash: Buffer, signature: Buffer): void {
  const publicKey = leafPublicKey(leafDer);
  const { algorithm, options } = paramsFor(publicKey);
  let ok = false;
  try {
    ok = verify(algorithm, signedContent(context, transcriptHash), { key: publicKey, ...options }, signature);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new SecureChatError('bad_certificate', 'The handshake signature does not match the certificate key.', { reason: 'key_mismatch' });
  }
}
