/**
 * The crypto a SecureChat endpoint needs, behind one small interface, so protocol/ runs on Node
 * (node:crypto, synchronous) and in the browser (WebCrypto, asynchronous). Every method may return
 * a value or a promise (`Awaitable`); code shared by both awaits the result. The Node provider is a
 * `SyncCryptoProvider`, whose methods return values, so Node-only hot paths call it without a
 * promise. Keys are opaque handles: the browser's private keys are non-extractable CryptoKeys.
 */

export type Awaitable<T> = T | Promise<T>;

declare const handleKind: unique symbol;
/** A provider-specific key object (KeyObject, CryptoKey); only the provider that made it may use it. */
export interface KeyHandle<Kind extends string> {
  readonly [handleKind]: Kind;
}
export type X25519PrivateKey = KeyHandle<'x25519-private'>;
export type AeadKey = KeyHandle<'aes-256-gcm'>;
export type SigningKey = KeyHandle<'signing-private'>;

export interface X25519KeyPair {
  privateKey: X25519PrivateKey;
  /** Raw 32-byte public key (RFC 7748). */
  publicRaw: Uint8Array;
}

export interface CryptoProvider {
  readonly name: string;
  /** Cryptographically secure random bytes (synchronous in Node and in WebCrypto). */
  randomBytes(length: number): Uint8Array;
  sha256(data: Uint8Array): Awaitable<Uint8Array>;
  hmacSha256(key: Uint8Array, data: Uint8Array): Awaitable<Uint8Array>;

  x25519Generate(): Awaitable<X25519KeyPair>;
  /** From a fixed 32-byte scalar: known-answer tests only. */
  x25519FromPrivate(raw: Uint8Array): Awaitable<X25519KeyPair>;
  /** The raw shared secret; throws on a malformed peer key. The all-zero check is the caller's. */
  x25519(privateKey: X25519PrivateKey, peerPublicRaw: Uint8Array): Awaitable<Uint8Array>;

  aesGcmKey(raw: Uint8Array): Awaitable<AeadKey>;
  /** Returns ciphertext ‖ 16-byte tag. */
  aesGcmSeal(key: AeadKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Awaitable<Uint8Array>;
  /** Opens ciphertext ‖ tag; throws if authentication fails. */
  aesGcmOpen(key: AeadKey, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Awaitable<Uint8Array>;

  /** A new ECDSA P-256 signing key; `extractable: false` is what the browser stores. */
  p256Generate(extractable: boolean): Awaitable<{ privateKey: SigningKey; spki: Uint8Array }>;
  /** Imports a PKCS#8 private key (P-256 or Ed25519); the result is never extractable. */
  importSigningKey(pkcs8: Uint8Array): Awaitable<SigningKey>;
  /** Signature in the protocol's encoding: DER for ECDSA, raw 64 bytes for Ed25519. */
  sign(key: SigningKey, data: Uint8Array): Awaitable<Uint8Array>;
  /** Verifies with a SubjectPublicKeyInfo (P-256/P-384/P-521 ECDSA with the matching SHA-2, or Ed25519). */
  verify(spki: Uint8Array, data: Uint8Array, signature: Uint8Array): Awaitable<boolean>;
}

type Sync<T> = T extends (...args: infer A) => Awaitable<infer R> ? (...args: A) => R : T;
/** A provider whose every method returns its value directly (node:crypto). */
export type SyncCryptoProvider = { readonly [K in keyof CryptoProvider]: Sync<CryptoProvider[K]> };
