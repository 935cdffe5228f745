/**
 * The WebCrypto provider (browsers, and Node's globalThis.crypto for the shared test vectors).
 * Asynchronous by nature. Private keys are CryptoKeys; signing keys are imported or generated
 * non-extractable, so page script can use them but never read them.
 */
import { concatBytes } from '../bytes.js';
import type { AeadKey, CryptoProvider, SigningKey, X25519KeyPair, X25519PrivateKey } from './provider.js';
import { ECDSA_COMPONENT_SIZE, ecdsaDerToRaw, ecdsaRawToDer, spkiAlgorithm, type SignatureAlgorithm } from './spki.js';

const X25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

// WebCrypto's types want ArrayBuffer-backed views; ours always are, TypeScript cannot tell.
type Bytes = Uint8Array<ArrayBuffer>;
const b = (u: Uint8Array): Bytes => u as Bytes;

interface Params {
  importParams: AlgorithmIdentifier | EcKeyImportParams | RsaHashedImportParams;
  signParams: AlgorithmIdentifier | EcdsaParams | RsaPssParams;
}

function paramsFor(alg: SignatureAlgorithm): Params {
  switch (alg) {
    case 'ecdsa-p256':
      return { importParams: { name: 'ECDSA', namedCurve: 'P-256' }, signParams: { name: 'ECDSA', hash: 'SHA-256' } };
    case 'ecdsa-p384':
      return { importParams: { name: 'ECDSA', namedCurve: 'P-384' }, signParams: { name: 'ECDSA', hash: 'SHA-384' } };
    case 'ecdsa-p521':
      return { importParams: { name: 'ECDSA', namedCurve: 'P-521' }, signParams: { name: 'ECDSA', hash: 'SHA-512' } };
    case 'ed25519':
      return { importParams: { name: 'Ed25519' }, signParams: { name: 'Ed25519' } };
    case 'rsa-pss':
      return { importParams: { name: 'RSA-PSS', hash: 'SHA-256' }, signParams: { name: 'RSA-PSS', saltLength: 32 } };
  }
}

function algorithmOfKey(key: CryptoKey): SignatureAlgorithm {
  const a = key.algorithm as EcKeyAlgorithm;
  if (a.name === 'Ed25519') return 'ed25519';
  if (a.name === 'ECDSA' && a.namedCurve === 'P-256') return 'ecdsa-p256';
  if (a.name === 'ECDSA' && a.namedCurve === 'P-384') return 'ecdsa-p384';
  if (a.name === 'ECDSA' && a.namedCurve === 'P-521') return 'ecdsa-p521';
  throw new Error('unsupported signing key');
}

/** The algorithm named inside a PKCS#8 blob: its AlgorithmIdentifier is an SPKI-shaped prefix. */
function pkcs8Algorithm(pkcs8: Uint8Array): SignatureAlgorithm {
  // PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier, ... }: rebuild a
  // minimal SEQUENCE { algorithm } so spkiAlgorithm can read it.
  let at = 2;
  if (pkcs8[1] & 0x80) at += pkcs8[1] & 0x7f;
  at += 2 + pkcs8[at + 1]; // skip version
  const algLen = 2 + pkcs8[at + 1];
  const alg = pkcs8.subarray(at, at + algLen);
  return spkiAlgorithm(concatBytes(Uint8Array.of(0x30, alg.length), alg));
}

export function webCrypto(subtle: SubtleCrypto = globalThis.crypto.subtle, random: Crypto = globalThis.crypto): CryptoProvider {
  async function x25519Pair(privateKey: CryptoKey, publicKey?: CryptoKey): Promise<X25519KeyPair> {
    let pub = publicKey;
    if (!pub) {
      // Without the public half at hand, derive it through JWK (the private key is extractable only in the KAT path).
      const jwk = await subtle.exportKey('jwk', privateKey);
      pub = await subtle.importKey('jwk', { kty: 'OKP', crv: 'X25519', x: jwk.x }, { name: 'X25519' }, true, []);
    }
    const publicRaw = new Uint8Array(await subtle.exportKey('raw', pub));
    return { privateKey: privateKey as unknown as X25519PrivateKey, publicRaw };
  }

  return {
    name: 'webcrypto',
    randomBytes: (length) => random.getRandomValues(new Uint8Array(length)),
    sha256: async (data) => new Uint8Array(await subtle.digest('SHA-256', b(data))),
    hmacSha256: async (key, data) => {
      const k = await subtle.importKey('raw', b(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      return new Uint8Array(await subtle.sign('HMAC', k, b(data)));
    },

    x25519Generate: async () => {
      // Ephemeral: non-extractable private half, used for one deriveBits and dropped.
      const pair = (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
      return x25519Pair(pair.privateKey, pair.publicKey);
    },
    x25519FromPrivate: async (raw) => {
      const key = await subtle.importKey('pkcs8', b(concatBytes(X25519_PKCS8_PREFIX, raw)), { name: 'X25519' }, true, ['deriveBits']);
      return x25519Pair(key);
    },
    x25519: async (privateKey, peer) => {
      const pub = await subtle.importKey('raw', b(peer), { name: 'X25519' }, false, []);
      return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub } as EcdhKeyDeriveParams, privateKey as unknown as CryptoKey, 256));
    },

    aesGcmKey: async (raw) => (await subtle.importKey('raw', b(raw), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])) as unknown as AeadKey,
    aesGcmSeal: async (key, nonce, aad, plaintext) =>
      new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: b(nonce), additionalData: b(aad), tagLength: 128 }, key as unknown as CryptoKey, b(plaintext))),
    aesGcmOpen: async (key, nonce, aad, sealed) =>
      new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: b(nonce), additionalData: b(aad), tagLength: 128 }, key as unknown as CryptoKey, b(sealed))),

    p256Generate: async (extractable) => {
      const pair = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, extractable, ['sign', 'verify'])) as CryptoKeyPair;
      return { privateKey: pair.privateKey as unknown as SigningKey, spki: new Uint8Array(await subtle.exportKey('spki', pair.publicKey)) };
    },
    importSigningKey: async (pkcs8) => {
      const { importParams } = paramsFor(pkcs8Algorithm(pkcs8));
      return (await subtle.importKey('pkcs8', b(pkcs8), importParams, false, ['sign'])) as unknown as SigningKey;
    },
    sign: async (handle, data) => {
      const key = handle as unknown as CryptoKey;
      const alg = algorithmOfKey(key);
      const sig = new Uint8Array(await subtle.sign(paramsFor(alg).signParams, key, b(data)));
      return alg === 'ed25519' ? sig : ecdsaRawToDer(sig);
    },
    verify: async (spki, data, signature) => {
      try {
        const alg = spkiAlgorithm(spki);
        const { importParams, signParams } = paramsFor(alg);
        const key = await subtle.importKey('spki', b(spki), importParams, false, ['verify']);
        const sig = alg === 'ed25519' || alg === 'rsa-pss' ? signature : ecdsaDerToRaw(signature, ECDSA_COMPONENT_SIZE[alg]);
        return await subtle.verify(signParams, key, b(sig), b(data));
      } catch {
        return false;
      }
    },
  };
}
