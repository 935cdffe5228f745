/**
 * Encrypted PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo) under PBES2, on DER only: PEM and key
 * objects are the callers' business, so this module has no dependency besides the ASN.1 schemas.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { EncryptedData, EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { SecureChatError } from '../errors.js';
import { OID_PBES2, describePbes2, pbes2Decrypt, pbes2Encrypt, pbes2IsStrong, type Kdf } from './pbes2.js';

/** DER EncryptedPrivateKeyInfo (RFC 5958 §3) of a DER PrivateKeyInfo; the password is used as UTF-8, as OpenSSL does. */
export function encryptPkcs8(pkcs8Der: Uint8Array, passphrase: string, kdf: Kdf = { kind: 'scrypt' }): Buffer {
  const { algorithm, ciphertext } = pbes2Encrypt(pkcs8Der, Buffer.from(passphrase, 'utf8'), kdf);
  const info = new EncryptedPrivateKeyInfo({ encryptionAlgorithm: algorithm, encryptedData: new EncryptedData(new Uint8Array(ciphertext)) });
  return Buffer.from(AsnConvert.serialize(info));
}

/** The DER PrivateKeyInfo inside a PBES2 EncryptedPrivateKeyInfo; `bad_passphrase` when the password is wrong. */
export function decryptPkcs8(encryptedDer: Uint8Array, passphrase: string): Buffer {
  let info: EncryptedPrivateKeyInfo;
  try {
    info = AsnConvert.parse(encryptedDer, EncryptedPrivateKeyInfo);
  } catch (err) {
    throw new SecureChatError('bad_input', 'The encrypted private key is malformed.', { cause: err });
  }
  return pbes2Decrypt(info.encryptionAlgorithm, new Uint8Array(info.encryptedData.buffer), Buffer.from(passphrase, 'utf8'));
}

/** True when the DER EncryptedPrivateKeyInfo uses PBES2 (what this module decrypts). */
export function isPbes2(encryptedDer: Uint8Array): boolean {
  try {
    return AsnConvert.parse(encryptedDer, EncryptedPrivateKeyInfo).encryptionAlgorithm.algorithm === OID_PBES2;
  } catch {
    return false;
  }
}

/** The scheme of an EncryptedPrivateKeyInfo and whether it meets the project's KDF floor. */
export function describeEncryptedPkcs8(encryptedDer: Uint8Array): { scheme: string; strong: boolean } {
  try {
    const alg = AsnConvert.parse(encryptedDer, EncryptedPrivateKeyInfo).encryptionAlgorithm;
    return { scheme: describePbes2(alg) ?? `unknown (${alg.algorithm})`, strong: pbes2IsStrong(alg) };
  } catch {
    return { scheme: 'unknown', strong: false };
  }
}
