/**
 * PKCS#12 (RFC 7292) files, built and read on the @peculiar/asn1-pfx / asn1-pkcs8 / asn1-cms
 * schemas with node:crypto primitives. No file system access, so the same reader can serve an
 * import in the browser client later.
 *
 * What we write: the certificates in plain `data` (they are public), the key in a
 * pkcs8ShroudedKeyBag under PBES2 (PBKDF2-HMAC-SHA256, 600,000 iterations, AES-256-CBC), and an
 * HMAC-SHA256 integrity MAC whose PKCS#12 KDF uses the same iteration count, because the MAC is
 * a password-guessing oracle too: a 2,048-iteration MAC would undo the key bag's work factor.
 * OpenSSL 3 opens it without -legacy.
 *
 * What we read: that, OpenSSL 3's default (everything under PBES2), and the legacy format
 * (`-legacy`: RC2-40 certificates, 3DES key, SHA-1 MAC). node-forge supplies RC2, which
 * OpenSSL 3 keeps in its legacy provider and Node does not load.
 */
import { X509Certificate, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import forge from 'node-forge';
import { AsnConvert, AsnProp, AsnPropTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { ContentInfo, EncryptedContentInfo, id_data, id_encryptedData } from '@peculiar/asn1-cms';
import { EncryptedPrivateKeyInfo, PrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { DigestInfo } from '@peculiar/asn1-rsa';
import {
  AuthenticatedSafe, CertBag, MacData, PFX, PKCS12Attribute, SafeBag, SafeContents, id_certBag, id_keyBag, id_pkcs8ShroudedKeyBag,
  id_SafeContents, id_x509Certificate,
} from '@peculiar/asn1-pfx';
import { FriendlyName, LocalKeyId, id_pkcs9_at_friendlyName, id_pkcs9_at_localKeyId } from '@peculiar/asn1-pkcs9';
import { SecureChatError } from '../errors.js';
import { encryptPkcs8 } from './encrypted-key.js';
import { OID_PBES2, PBKDF2_ITERATIONS, pbes2Decrypt } from './pbes2.js';
import { PKCS12_KDF_ID, pkcs12Kdf } from './pkcs12-kdf.js';

const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const DIGEST_LENGTH: Record<string, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** PKCS#12 PBE (RFC 7292 Appendix C), what -legacy writes. RC4 is refused outright. */
const LEGACY_PBE: Record<string, { cipher: 'des-ede3-cbc' | 'des-ede-cbc' | 'rc2'; keyLength: number; rc2Bits?: number }> = {
  '1.2.840.113549.1.12.1.3': { cipher: 'des-ede3-cbc', keyLength: 24 },
  '1.2.840.113549.1.12.1.4': { cipher: 'des-ede-cbc', keyLength: 16 },
  '1.2.840.113549.1.12.1.5': { cipher: 'rc2', keyLength: 16, rc2Bits: 128 },
  '1.2.840.113549.1.12.1.6': { cipher: 'rc2', keyLength: 5, rc2Bits: 40 },
};

/** pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER } */
class Pkcs12PbeParams {
  @AsnProp({ type: OctetString }) salt = new OctetString();
  @AsnProp({ type: AsnPropTypes.Integer }) iterations = 0;
}

/** CMS EncryptedData (RFC 5652 §8) without unprotectedAttrs, which PKCS#12 never uses. */
class EncryptedData {
  @AsnProp({ type: AsnPropTypes.Integer }) version = 0;
  @AsnProp({ type: EncryptedContentInfo }) encryptedContentInfo = new EncryptedContentInfo();
}

/** Limits for files from elsewhere: enough for any real tool, not enough to hang us. */
const MAX_ITERATIONS = 10_000_000;
const MAX_NESTING = 4;

const ab = (b: Uint8Array): ArrayBuffer => new Uint8Array(b).buffer;
const ser = (value: object): Buffer => Buffer.from(AsnConvert.serialize(value));

function parse<T>(data: Uint8Array | ArrayBuffer, type: new () => T, what: string): T {
  try {
    return AsnConvert.parse(data instanceof ArrayBuffer ? data : ab(data), type);
  } catch (err) {
    throw new SecureChatError('bad_input', `The PKCS#12 file is malformed (${what}).`, { cause: err });
  }
}

// ---------------------------------------------------------------- writing

export interface Pkcs12Options {
  /** DER certificates: the leaf first, then any chain certificates. */
  certificates: Uint8Array[];
  /** DER PrivateKeyInfo (PKCS#8) of the leaf's key. */
  privateKey: Uint8Array;
  password: string;
  friendlyName?: string;
  /** PBKDF2 and MAC iterations; default 600,000. */
  iterations?: number;
}

/** asn1-pfx 2.x's PKCS12Attribute constructor drops its parameters (`Object.assign(params)`), so the fields are set here. */
const pkcs12Attribute = (attrId: string, value: object): PKCS12Attribute => Object.assign(new PKCS12Attribute(), { attrId, attrValues: [ab(ser(value))] });

function bagAttributes(localKeyId: Uint8Array, friendlyName?: string): PKCS12Attribute[] {
  return [
    pkcs12Attribute(id_pkcs9_at_localKeyId, new LocalKeyId(ab(localKeyId))),
    ...(friendlyName ? [pkcs12Attribute(id_pkcs9_at_friendlyName, new FriendlyName(friendlyName))] : []),
  ];
}

const dataContentInfo = (content: Uint8Array): ContentInfo => new ContentInfo({ contentType: id_data, content: ab(ser(new OctetString(ab(content)))) });

function pkcs12Mac(hash: string, password: string, salt: Uint8Array, iterations: number, data: Uint8Array): Buffer {
  const key = pkcs12Kdf(hash, password, salt, PKCS12_KDF_ID.mac, iterations, DIGEST_LENGTH[hash]);
  return createHmac(hash, key).update(data).digest();
}

export function buildPkcs12(opts: Pkcs12Options): Buffer {
  const [leaf] = opts.certificates;
  if (!leaf) throw new Error('buildPkcs12 needs at least one certificate');
  const iterations = opts.iterations ?? PBKDF2_ITERATIONS;
  // localKeyID ties the key bag to its certificate for importers (same convention as OpenSSL: SHA-1 of the certificate).
  const localKeyId = createHash('sha1').update(leaf).digest();
  const certBags = opts.certificates.map(
    (der, i) =>
      new SafeBag({
        bagId: id_certBag,
        bagValue: ab(ser(new CertBag({ certId: id_x509Certificate, certValue: ab(ser(new OctetString(ab(der)))) }))),
        ...(i === 0 ? { bagAttributes: bagAttributes(localKeyId, opts.friendlyName) } : {}),
      }),
  );
  const keyBag = new SafeBag({
    bagId: id_pkcs8ShroudedKeyBag,
    bagValue: ab(encryptPkcs8(opts.privateKey, opts.password, { kind: 'pbkdf2', iterations })),
    bagAttributes: bagAttributes(localKeyId, opts.friendlyName),
  });
  const authSafe = ser(new AuthenticatedSafe([dataContentInfo(ser(new SafeContents(certBags))), dataContentInfo(ser(new SafeContents([keyBag])))]));
  const salt = randomBytes(16);
  const macData = new MacData({
    mac: new DigestInfo({ digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID_SHA256, parameters: null }), digest: new OctetString(ab(pkcs12Mac('sha256', opts.password, salt, iterations, authSafe))) }),
    macSalt: new OctetString(ab(salt)),
    iterations,
  });
  return ser(new PFX({ version: 3, authSafe: dataContentInfo(authSafe), macData }));
}

// ---------------------------------------------------------------- reading

export interface ParsedPkcs12 {
  /** DER certificates; the one that matches the key first, then the rest in file order. */
  certificates: Buffer[];
  /** DER PrivateKeyInfo (PKCS#8), decrypted. */
  privateKey: Buffer;
  friendlyName?: string;
  /** e.g. "HMAC-SHA256, 600000 iterations": what the integrity check used. */
  mac: string;
}

function legacyDecrypt(alg: AlgorithmIdentifier, data: Uint8Array, password: string): Buffer {
  const spec = LEGACY_PBE[alg.algorithm]!;
  if (!alg.parameters) throw new SecureChatError('bad_input', 'The PKCS#12 PBE parameters are missing.');
  const params = parse(alg.parameters, Pkcs12PbeParams, 'PBE parameters');
  if (params.iterations < 1 || params.iterations > MAX_ITERATIONS) throw new SecureChatError('bad_input', `PKCS#12 PBE with ${params.iterations} iterations is refused.`);
  const salt = new Uint8Array(params.salt.buffer);
  const key = pkcs12Kdf('sha1', password, salt, PKCS12_KDF_ID.key, params.iterations, spec.keyLength);
  const iv = pkcs12Kdf('sha1', password, salt, PKCS12_KDF_ID.iv, params.iterations, 8);
  if (spec.cipher === 'rc2') {
    const cipher = forge.rc2.createDecryptionCipher(forge.util.createBuffer(key.toString('binary')), spec.rc2Bits);
    cipher.start(forge.util.createBuffer(iv.toString('binary')));
    cipher.update(forge.util.createBuffer(Buffer.from(data).toString('binary')));
    if (!cipher.finish()) throw new SecureChatError('bad_passphrase', 'Wrong password (the encrypted data did not decrypt).');
    return Buffer.from(cipher.output.getBytes(), 'binary');
  }
  try {
    const decipher = createDecipheriv(spec.cipher, key, iv);
    return Buffer.concat([decipher.update(data), decipher.final()]);
  } catch (err) {
    throw new SecureChatError('bad_passphrase', 'Wrong password (the encrypted data did not decrypt).', { cause: err });
  }
}

/** PBES2 takes the password as UTF-8 bytes, PKCS#12 PBE as a BMPString (RFC 7292 B.1; OpenSSL does the same). */
function decrypt(alg: AlgorithmIdentifier, data: Uint8Array, password: string): Buffer {
  if (alg.algorithm === OID_PBES2) return pbes2Decrypt(alg, data, Buffer.from(password, 'utf8'));
  if (LEGACY_PBE[alg.algorithm]) return legacyDecrypt(alg, data, password);
  throw new SecureChatError('bad_input', `The PKCS#12 file uses an unsupported encryption algorithm (${alg.algorithm}).`);
}

function verifyMac(pfx: PFX, authSafe: Uint8Array, password: string): string {
  if (!pfx.macData) throw new SecureChatError('bad_input', 'The PKCS#12 file has no integrity MAC (public-key integrity mode is not supported).');
  const { mac, macSalt, iterations } = pfx.macData;
  const hash = DIGESTS[mac.digestAlgorithm.algorithm];
  if (!hash) throw new SecureChatError('bad_input', `The PKCS#12 MAC uses an unsupported digest (${mac.digestAlgorithm.algorithm}).`);
  if (iterations < 1 || iterations > MAX_ITERATIONS) throw new SecureChatError('bad_input', `A PKCS#12 MAC with ${iterations} iterations is refused.`);
  const expected = Buffer.from(mac.digest.buffer);
  const actual = pkcs12Mac(hash, password, new Uint8Array(macSalt.buffer), iterations, authSafe);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new SecureChatError('bad_passphrase', 'Wrong password, or the PKCS#12 file was altered (its MAC does not verify).');
  }
  return `HMAC-${hash.toUpperCase()}, ${iterations} iterations`;
}

interface Collected {
  certs: { der: Buffer; localKeyId?: string; friendlyName?: string }[];
  keys: { der: Buffer; localKeyId?: string; friendlyName?: string }[];
}

function attribute(bag: SafeBag, oid: string): ArrayBuffer | undefined {
  return bag.bagAttributes?.find((a) => a.attrId === oid)?.attrValues[0];
}

function collectBags(contents: SafeContents, password: string, out: Collected, depth: number): void {
  if (depth > MAX_NESTING) throw new SecureChatError('bad_input', 'The PKCS#12 file nests SafeContents too deeply.');
  for (const bag of contents) {
    const idAttr = attribute(bag, id_pkcs9_at_localKeyId);
    const localKeyId = idAttr ? Buffer.from(parse(idAttr, LocalKeyId, 'localKeyId').buffer).toString('hex') : undefined;
    const nameAttr = attribute(bag, id_pkcs9_at_friendlyName);
    const friendlyName = nameAttr ? parse(nameAttr, FriendlyName, 'friendlyName').value : undefined;
    const tags = { ...(localKeyId ? { localKeyId } : {}), ...(friendlyName ? { friendlyName } : {}) };
    switch (bag.bagId) {
      case id_certBag: {
        const certBag = parse(bag.bagValue, CertBag, 'certBag');
        if (certBag.certId !== id_x509Certificate) continue; // SDSI certificates: nothing we can use
        out.certs.push({ der: Buffer.from(parse(certBag.certValue, OctetString, 'certificate').buffer), ...tags });
        break;
      }
      case id_pkcs8ShroudedKeyBag: {
        const info = parse(bag.bagValue, EncryptedPrivateKeyInfo, 'shrouded key bag');
        const der = decrypt(info.encryptionAlgorithm, new Uint8Array(info.encryptedData.buffer), password);
        parse(der, PrivateKeyInfo, 'decrypted key');
        out.keys.push({ der, ...tags });
        break;
      }
      case id_keyBag:
        parse(bag.bagValue, PrivateKeyInfo, 'key bag');
        out.keys.push({ der: Buffer.from(bag.bagValue), ...tags });
        break;
      case id_SafeContents:
        collectBags(parse(bag.bagValue, SafeContents, 'nested SafeContents'), password, out, depth + 1);
        break;
      default:
        break; // CRL and secret bags are not ours to import
    }
  }
}

function safeContentsOf(info: ContentInfo, password: string): SafeContents {
  if (info.contentType === id_data) return parse(parse(info.content, OctetString, 'data').buffer, SafeContents, 'SafeContents');
  if (info.contentType === id_encryptedData) {
    const enc = parse(info.content, EncryptedData, 'EncryptedData').encryptedContentInfo;
    const octets = enc.encryptedContent?.value?.buffer ?? concatChunks(enc.encryptedContent?.constructedValue);
    if (!octets) throw new SecureChatError('bad_input', 'The PKCS#12 file holds an EncryptedData without content.');
    return parse(decrypt(enc.contentEncryptionAlgorithm, new Uint8Array(octets), password), SafeContents, 'decrypted SafeContents');
  }
  throw new SecureChatError('bad_input', `The PKCS#12 file holds content of type ${info.contentType} (enveloped data is not supported).`);
}

function concatChunks(chunks: OctetString[] | undefined): ArrayBuffer | undefined {
  return chunks ? ab(Buffer.concat(chunks.map((c) => Buffer.from(c.buffer)))) : undefined;
}

function spkiOfCert(der: Buffer): Buffer | undefined {
  try {
    return new X509Certificate(der).publicKey.export({ format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/** Opens a .p12 with its password: MAC first (wrong password = bad_passphrase), then every bag. */
export function parsePkcs12(der: Uint8Array, password: string): ParsedPkcs12 {
  const pfx = parse(der, PFX, 'PFX');
  if (pfx.version !== 3) throw new SecureChatError('bad_input', `Unsupported PKCS#12 version ${pfx.version}.`);
  if (pfx.authSafe.contentType !== id_data) throw new SecureChatError('bad_input', 'Only password-integrity PKCS#12 files are supported.');
  const authSafeBytes = new Uint8Array(parse(pfx.authSafe.content, OctetString, 'authSafe').buffer);
  const mac = verifyMac(pfx, authSafeBytes, password);
  const out: Collected = { certs: [], keys: [] };
  for (const info of parse(authSafeBytes, AuthenticatedSafe, 'AuthenticatedSafe')) collectBags(safeContentsOf(info, password), password, out, 0);
  if (out.keys.length !== 1) throw new SecureChatError('bad_input', `The PKCS#12 file holds ${out.keys.length} private keys; exactly one is needed.`);
  if (out.certs.length === 0) throw new SecureChatError('bad_input', 'The PKCS#12 file holds no certificate.');
  const [key] = out.keys;
  // The leaf is the certificate of the key: by localKeyId, else by public key.
  const keySpki = createPublicKey(createPrivateKey({ key: key.der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  const leafIndex = out.certs.findIndex((c) => spkiOfCert(c.der)?.equals(keySpki));
  if (leafIndex < 0) throw new SecureChatError('bad_input', 'No certificate in the PKCS#12 file belongs to its private key.');
  const certificates = [out.certs[leafIndex].der, ...out.certs.filter((_, i) => i !== leafIndex).map((c) => c.der)];
  return { certificates, privateKey: key.der, ...(key.friendlyName ? { friendlyName: key.friendlyName } : {}), mac };
}
