/**
 * Key types the CA issues and signs with. Keys live as node:crypto KeyObjects (for PEM export and
 * encryption); @peculiar/x509 needs WebCrypto CryptoKeys, made on demand by `toSigningKey`.
 */
import { KeyObject, generateKeyPairSync, webcrypto } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import { describeEncryptedPkcs8, encryptPkcs8 } from './encrypted-key.js';
import type { Kdf } from './pbes2.js';
import { readPemBlocks, toPem } from './pem.js';

export const KEY_TYPES = ['p256', 'p384', 'ed25519', 'rsa3072'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export function parseKeyType(value: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw new SecureChatError('usage', `Unknown key type "${value}"; use one of ${KEY_TYPES.join(', ')}.`);
}

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function generateKeyPair(type: KeyType): KeyPair {
  switch (type) {
    case 'p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    case 'rsa3072':
      return generateKeyPairSync('rsa', { modulusLength: 3072 });
  }
}

/** The key type of an existing key, or a typed failure for keys the CA does not sign with. */
export function keyTypeOf(key: KeyObject): KeyType {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details.namedCurve === 'prime256v1' || details.namedCurve === 'P-256') return 'p256';
      if (details.namedCurve === 'secp384r1' || details.namedCurve === 'P-384') return 'p384';
      break;
    case 'ed25519':
      return 'ed25519';
    case 'rsa':
      // Any RSA key of at least 2048 bits is acceptable for a leaf; the CA itself makes 3072.
      if ((details.modulusLength ?? 0) >= 2048) return 'rsa3072';
      break;
  }
  throw new SecureChatError('bad_input', `Unsupported key (${key.asymmetricKeyType ?? 'unknown'} ${details.namedCurve ?? details.modulusLength ?? ''}).`);
}

type ImportAlgorithm = webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm;

function importAlgorithm(type: KeyType): ImportAlgorithm {
  switch (type) {
    case 'p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'p384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    case 'ed25519':
      return { name: 'Ed25519' };
    case 'rsa3072':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  }
}

/** The signature algorithm a CA key of this type signs with (hash matched to the curve size). */
export function signingAlgorithm(type: KeyType): webcrypto.Algorithm | webcrypto.EcdsaParams {
  switch (type) {
    case 'p256':
      return { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams;
    case 'p384':
      return { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams;
    case 'ed25519':
      return { name: 'Ed25519' };
    case 'rsa3072':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as webcrypto.Algorithm;
  }
}

export async function toSigningKey(privateKey: KeyObject): Promise<webcrypto.CryptoKey> {
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, importAlgorithm(keyTypeOf(privateKey)), false, ['sign']);
}

export async function toPublicCryptoKey(publicKey: KeyObject): Promise<webcrypto.CryptoKey> {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return webcrypto.subtle.importKey('spki', der, importAlgorithm(keyTypeOf(publicKey)), true, ['verify']);
}

/**
 * PKCS#8 PEM; with a passphrase, an EncryptedPrivateKeyInfo under PBES2 (scrypt N=2^14 r=8 p=5 by
 * default, AES-256-CBC) that `openssl pkey -passin` opens. Node's own encrypted export would use
 * PBKDF2 with 2,048 iterations.
 */
export function exportPrivateKeyPem(privateKey: KeyObject, passphrase?: string, kdf: Kdf = { kind: 'scrypt' }): string {
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  if (passphrase === undefined) return toPem(pkcs8, 'PRIVATE KEY');
  return toPem(encryptPkcs8(pkcs8, passphrase, kdf), 'ENCRYPTED PRIVATE KEY');
}

export interface KeyProtection {
  encrypted: boolean;
  /** e.g. "scrypt N=16384 r=8 p=5, aes-256-cbc"; "unknown" for encryption we cannot describe. */
  scheme?: string;
  /** False for a plaintext key or a weak KDF (Node's default 2,048 PBKDF2 iterations, PBES1). */
  strong: boolean;
}

/** How a PEM key file is protected, without decrypting it. */
export function keyProtectionOf(pemText: string): KeyProtection {
  if (/Proc-Type: 4,ENCRYPTED/.test(pemText)) return { encrypted: true, scheme: 'legacy PEM encryption (MD5 key derivation)', strong: false };
  const block = readPemBlocks(pemText).find((b) => b.label.endsWith('PRIVATE KEY'));
  if (!block || block.label !== 'ENCRYPTED PRIVATE KEY') return { encrypted: false, strong: false };
  return { encrypted: true, ...describeEncryptedPkcs8(block.der) };
}
