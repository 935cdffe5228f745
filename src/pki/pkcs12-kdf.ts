/**
 * The PKCS#12 key derivation (RFC 7292 Appendix B.2), which node:crypto does not offer. It makes
 * the integrity-MAC key of every .p12, and the key and IV of the legacy PKCS#12 PBE ciphers
 * (3DES, RC2) that `openssl pkcs12 -legacy` and older tools write.
 */
import * as crypto from 'node:crypto';

export const PKCS12_KDF_ID = { key: 1, iv: 2, mac: 3 } as const;

const HASH_SIZES: Record<string, { u: number; v: number }> = {
  sha1: { u: 20, v: 64 },
  sha256: { u: 32, v: 64 },
  sha384: { u: 48, v: 128 },
  sha512: { u: 64, v: 128 },
};

/** The password as a BMPString with its two-byte terminator (UTF-16BE; characters beyond the BMP as surrogate pairs, as OpenSSL does). */
export function bmpPassword(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/** `crypto.hash` (Node >= 20.12) is several times faster in this tight loop than createHash. */
const oneShot = (crypto as { hash?: (alg: string, data: Buffer, enc: 'buffer') => Buffer }).hash;
const digest = (alg: string, data: Buffer): Buffer => (oneShot ? oneShot(alg, data, 'buffer') : crypto.createHash(alg).update(data).digest());

/** `length` bytes of key material of purpose `id` from the password, salt and iteration count. */
export function pkcs12Kdf(hash: string, password: string, salt: Uint8Array, id: number, iterations: number, length: number): Buffer {
  const sizes = HASH_SIZES[hash];
  if (!sizes) throw new Error(`pkcs12Kdf: unsupported hash ${hash}`);
  const { u, v } = sizes;
  const stretch = (data: Uint8Array): Buffer => {
    const out = Buffer.alloc(data.length === 0 ? 0 : v * Math.ceil(data.length / v));
    for (let i = 0; i < out.length; i++) out[i] = data[i % data.length];
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([stretch(salt), stretch(bmpPassword(password))]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let A = digest(hash, Buffer.concat([D, I]));
    for (let i = 1; i < iterations; i++) A = digest(hash, A);
    blocks.push(A);
    if (produced + u >= length) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block of I.
    const B = stretch(A).subarray(0, v);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        carry += I[j + k] + B[k];
        I[j + k] = carry & 0xff;
        carry >>= 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}
