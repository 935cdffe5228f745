/**
 * Password-based encryption, PKCS#5 v2.1 PBES2 (RFC 8018 §6.2) with the KDF parameters in the
 * file: scrypt (RFC 7914 §7) or PBKDF2-HMAC-SHA-*, and AES-CBC. Node's own `KeyObject.export`
 * with a cipher always uses PBKDF2 with 2,048 iterations, far too few for a CA key at rest, so
 * the structures are built here on @peculiar/asn1-schema and the primitives come from node:crypto.
 *
 * No file system access: the PKCS#12 reader built on this runs wherever node:crypto does.
 */
import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes, scryptSync } from 'node:crypto';
import { AsnConvert, AsnProp, AsnPropTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { SecureChatError } from '../errors.js';

export const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';
const OID_SCRYPT = '1.3.6.1.4.1.11591.4.11';

const PRF: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};
const OID_HMAC_SHA256 = '1.2.840.113549.2.9';

const CIPHERS: Record<string, { name: string; keyLength: number; ivLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
};
const OID_AES256_CBC = '2.16.840.1.101.3.4.1.42';

/** RFC 8018 A.2. Only the `specified` salt alternative exists in practice. */
export class Pbkdf2Params {
  @AsnProp({ type: OctetString }) salt = new OctetString();
  @AsnProp({ type: AsnPropTypes.Integer }) iterationCount = 0;
  @AsnProp({ type: AsnPropTypes.Integer, optional: true }) keyLength?: number;
  /** Absent means hmacWithSHA1 (the DEFAULT). */
  @AsnProp({ type: AlgorithmIdentifier, optional: true }) prf?: AlgorithmIdentifier;
  constructor(params: Partial<Pbkdf2Params> = {}) {
    Object.assign(this, params);
  }
}

/** RFC 7914 §7.1. */
export class ScryptParams {
  @AsnProp({ type: OctetString }) salt = new OctetString();
  @AsnProp({ type: AsnPropTypes.Integer }) costParameter = 0;
  @AsnProp({ type: AsnPropTypes.Integer }) blockSize = 0;
  @AsnProp({ type: AsnPropTypes.Integer }) parallelizationParameter = 0;
  @AsnProp({ type: AsnPropTypes.Integer, optional: true }) keyLength?: number;
  constructor(params: Partial<ScryptParams> = {}) {
    Object.assign(this, params);
  }
}

/** RFC 8018 A.4. */
export class Pbes2Params {
  @AsnProp({ type: AlgorithmIdentifier }) keyDerivationFunc = new AlgorithmIdentifier();
  @AsnProp({ type: AlgorithmIdentifier }) encryptionScheme = new AlgorithmIdentifier();
  constructor(params: Partial<Pbes2Params> = {}) {
    Object.assign(this, params);
  }
}

/**
 * scrypt at N=2^14, r=8, p=5: one of OWASP's equivalent minimum settings, and the largest N for
 * r=8 that OpenSSL accepts when it opens the file (its PKCS#8 reader caps scrypt at 32 MiB).
 */
export const SCRYPT_DEFAULTS = { N: 2 ** 14, r: 8, p: 5 } as const;
/** PBKDF2-HMAC-SHA256 iterations (OWASP 2023): what PKCS#12 importers, which rarely know scrypt, get. */
export const PBKDF2_ITERATIONS = 600_000;

/**
 * Work limits for files we did not write (an imported .p12): a hostile file must not make us
 * allocate gigabytes or spin for minutes. Generous enough for anything a real tool produces.
 */
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;
const MAX_PBKDF2_ITERATIONS = 10_000_000;

export type Kdf = { kind: 'scrypt'; N?: number; r?: number; p?: number } | { kind: 'pbkdf2'; iterations?: number };

const der = (value: object): ArrayBuffer => AsnConvert.serialize(value);
const octets = (b: Uint8Array): OctetString => new OctetString(new Uint8Array(b));

function scryptMaxmem(N: number, r: number, p: number): number {
  return 128 * N * r + 128 * r * p + 1024 * 1024;
}

/** Encrypts `plaintext` under the password; returns the AlgorithmIdentifier (PBES2 + parameters) and the ciphertext. */
export function pbes2Encrypt(plaintext: Uint8Array, password: Uint8Array, kdf: Kdf): { algorithm: AlgorithmIdentifier; ciphertext: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  let key: Buffer;
  let keyDerivationFunc: AlgorithmIdentifier;
  if (kdf.kind === 'scrypt') {
    const { N = SCRYPT_DEFAULTS.N, r = SCRYPT_DEFAULTS.r, p = SCRYPT_DEFAULTS.p } = kdf;
    key = scryptSync(password, salt, 32, { N, r, p, maxmem: scryptMaxmem(N, r, p) });
    keyDerivationFunc = new AlgorithmIdentifier({
      algorithm: OID_SCRYPT,
      parameters: der(new ScryptParams({ salt: octets(salt), costParameter: N, blockSize: r, parallelizationParameter: p, keyLength: 32 })),
    });
  } else {
    const iterations = kdf.iterations ?? PBKDF2_ITERATIONS;
    key = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
    keyDerivationFunc = new AlgorithmIdentifier({
      algorithm: OID_PBKDF2,
      parameters: der(
        new Pbkdf2Params({
          salt: octets(salt),
          iterationCount: iterations,
          prf: new AlgorithmIdentifier({ algorithm: OID_HMAC_SHA256, parameters: null }),
        }),
      ),
    });
  }
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  key.fill(0);
  const encryptionScheme = new AlgorithmIdentifier({ algorithm: OID_AES256_CBC, parameters: der(octets(iv)) });
  return { algorithm: new AlgorithmIdentifier({ algorithm: OID_PBES2, parameters: der(new Pbes2Params({ keyDerivationFunc, encryptionScheme })) }), ciphertext };
}

interface ParsedPbes2 {
  kdf: { kind: 'scrypt'; salt: Buffer; N: number; r: number; p: number } | { kind: 'pbkdf2'; salt: Buffer; iterations: number; hash: string };
  keyLength?: number;
  cipher: { name: string; keyLength: number; ivLength: number };
  iv: Buffer;
}

const unsupported = (what: string): SecureChatError => new SecureChatError('bad_input', `Unsupported encryption: ${what}.`);

function parsePbes2(alg: AlgorithmIdentifier): ParsedPbes2 {
  if (alg.algorithm !== OID_PBES2 || !alg.parameters) throw unsupported(`algorithm ${alg.algorithm}`);
  const params = AsnConvert.parse(alg.parameters, Pbes2Params);
  const cipher = CIPHERS[params.encryptionScheme.algorithm];
  if (!cipher || !params.encryptionScheme.parameters) throw unsupported(`cipher ${params.encryptionScheme.algorithm}`);
  const iv = Buffer.from(AsnConvert.parse(params.encryptionScheme.parameters, OctetString).buffer);
  if (iv.length !== cipher.ivLength) throw new SecureChatError('bad_input', `The ${cipher.name} IV has ${iv.length} bytes.`);
  const kdfAlg = params.keyDerivationFunc;
  if (!kdfAlg.parameters) throw unsupported('KDF without parameters');
  if (kdfAlg.algorithm === OID_SCRYPT) {
    const s = AsnConvert.parse(kdfAlg.parameters, ScryptParams);
    return {
      kdf: { kind: 'scrypt', salt: Buffer.from(s.salt.buffer), N: s.costParameter, r: s.blockSize, p: s.parallelizationParameter },
      ...(s.keyLength !== undefined ? { keyLength: s.keyLength } : {}),
      cipher,
      iv,
    };
  }
  if (kdfAlg.algorithm === OID_PBKDF2) {
    const k = AsnConvert.parse(kdfAlg.parameters, Pbkdf2Params);
    const hash = PRF[k.prf?.algorithm ?? '1.2.840.113549.2.7'];
    if (!hash) throw unsupported(`PBKDF2 PRF ${k.prf?.algorithm}`);
    return {
      kdf: { kind: 'pbkdf2', salt: Buffer.from(k.salt.buffer), iterations: k.iterationCount, hash },
      ...(k.keyLength !== undefined ? { keyLength: k.keyLength } : {}),
      cipher,
      iv,
    };
  }
  throw unsupported(`KDF ${kdfAlg.algorithm}`);
}

/**
 * Decrypts PBES2 ciphertext. A wrong password shows as bad padding (or, rarely, garbage the
 * caller's parser rejects): both are `bad_passphrase`.
 */
export function pbes2Decrypt(alg: AlgorithmIdentifier, ciphertext: Uint8Array, password: Uint8Array): Buffer {
  const p = parsePbes2(alg);
  if (p.keyLength !== undefined && p.keyLength !== p.cipher.keyLength) throw unsupported(`key length ${p.keyLength} for ${p.cipher.name}`);
  let key: Buffer;
  if (p.kdf.kind === 'scrypt') {
    const { N, r, p: par } = p.kdf;
    const isPowerOfTwo = N > 1 && (N & (N - 1)) === 0;
    if (!isPowerOfTwo || r < 1 || par < 1 || scryptMaxmem(N, r, par) > MAX_SCRYPT_MEMORY || par > 64) throw unsupported(`scrypt parameters N=${N} r=${r} p=${par}`);
    key = scryptSync(password, p.kdf.salt, p.cipher.keyLength, { N, r, p: par, maxmem: scryptMaxmem(N, r, par) });
  } else {
    if (p.kdf.iterations < 1 || p.kdf.iterations > MAX_PBKDF2_ITERATIONS) throw unsupported(`PBKDF2 with ${p.kdf.iterations} iterations`);
    key = pbkdf2Sync(password, p.kdf.salt, p.kdf.iterations, p.cipher.keyLength, p.kdf.hash);
  }
  try {
    const decipher = createDecipheriv(p.cipher.name, key, p.iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (err) {
    throw new SecureChatError('bad_passphrase', 'Wrong password (the encrypted data did not decrypt).', { cause: err });
  } finally {
    key.fill(0);
  }
}

/** "scrypt N=16384 r=8 p=5, aes-256-cbc" — for `ca list` and docs; undefined for non-PBES2. */
export function describePbes2(alg: AlgorithmIdentifier): string | undefined {
  try {
    const p = parsePbes2(alg);
    const kdf = p.kdf.kind === 'scrypt' ? `scrypt N=${p.kdf.N} r=${p.kdf.r} p=${p.kdf.p}` : `PBKDF2-HMAC-${p.kdf.hash.toUpperCase()} ${p.kdf.iterations} iterations`;
    return `${kdf}, ${p.cipher.name}`;
  } catch {
    return undefined;
  }
}

/** True when the KDF meets the project's floor (scrypt >= the default work, or PBKDF2-SHA256+ >= 600k). */
export function pbes2IsStrong(alg: AlgorithmIdentifier): boolean {
  try {
    const p = parsePbes2(alg);
    if (p.kdf.kind === 'scrypt') return p.kdf.N * p.kdf.r * p.kdf.p >= SCRYPT_DEFAULTS.N * SCRYPT_DEFAULTS.r * SCRYPT_DEFAULTS.p && p.kdf.N >= 2 ** 14;
    return p.kdf.hash !== 'sha1' && p.kdf.iterations >= PBKDF2_ITERATIONS;
  } catch {
    return false;
  }
}
