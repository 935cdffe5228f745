/**
 * Importing a .p12 from `securechat ca export-p12` in the page: PBES2 (PBKDF2-HMAC-SHA-2 and
 * AES-CBC, what export-p12 and OpenSSL 3 write) decrypted with WebCrypto, the PKCS#8 key imported
 * with `extractable: false`, and every byte of the file and of the decrypted key overwritten
 * before returning. Legacy (RC2/3DES) files are refused: re-export them with export-p12.
 *
 * The file's MAC is not checked (its PKCS#12 KDF has no WebCrypto primitive); integrity comes from
 * the key bag's padding check and from requiring that the decrypted key signs for the certificate.
 */
import 'reflect-metadata';
import { AsnConvert, AsnProp, AsnPropTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { ContentInfo, EncryptedContentInfo, id_data, id_encryptedData } from '@peculiar/asn1-cms';
import { EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { AuthenticatedSafe, CertBag, PFX, SafeContents, id_certBag, id_keyBag, id_pkcs8ShroudedKeyBag } from '@peculiar/asn1-pfx';
import * as x509 from '@peculiar/x509';
import { SecureChatError } from '../../errors.js';
import { wipe } from '../../protocol/bytes.js';
import { saveIdentity, type StoredIdentity } from './identity.js';

const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';
const PRF: Record<string, string> = { '1.2.840.113549.2.9': 'SHA-256', '1.2.840.113549.2.10': 'SHA-384', '1.2.840.113549.2.11': 'SHA-512' };
const AES_CBC: Record<string, number> = { '2.16.840.1.101.3.4.1.2': 16, '2.16.840.1.101.3.4.1.22': 24, '2.16.840.1.101.3.4.1.42': 32 };
/** A hostile file must not spin the tab for minutes. */
const MAX_ITERATIONS = 10_000_000;

class Pbkdf2Params {
  @AsnProp({ type: OctetString }) salt = new OctetString();
  @AsnProp({ type: AsnPropTypes.Integer }) iterationCount = 0;
  @AsnProp({ type: AsnPropTypes.Integer, optional: true }) keyLength?: number;
  @AsnProp({ type: AlgorithmIdentifier, optional: true }) prf?: AlgorithmIdentifier;
}

/** CMS EncryptedData (RFC 5652 §8) without unprotectedAttrs, which PKCS#12 never uses. */
class EncryptedData {
  @AsnProp({ type: AsnPropTypes.Integer }) version = 0;
  @AsnProp({ type: EncryptedContentInfo }) encryptedContentInfo = new EncryptedContentInfo();
}

class Pbes2Params {
  @AsnProp({ type: AlgorithmIdentifier }) keyDerivationFunc = new AlgorithmIdentifier();
  @AsnProp({ type: AlgorithmIdentifier }) encryptionScheme = new AlgorithmIdentifier();
}

const bad = (message: string): SecureChatError => new SecureChatError('bad_input', message);

async function pbes2Decrypt(alg: AlgorithmIdentifier, data: Uint8Array, password: string): Promise<Uint8Array> {
  if (alg.algorithm !== OID_PBES2 || !alg.parameters) throw bad('This .p12 uses a legacy cipher; export it again with `securechat ca export-p12`.');
  const params = AsnConvert.parse(alg.parameters, Pbes2Params);
  if (params.keyDerivationFunc.algorithm !== OID_PBKDF2 || !params.keyDerivationFunc.parameters) throw bad('Unsupported key derivation in the .p12.');
  const kdf = AsnConvert.parse(params.keyDerivationFunc.parameters, Pbkdf2Params);
  const hash = kdf.prf ? PRF[kdf.prf.algorithm] : undefined;
  const keyLength = AES_CBC[params.encryptionScheme.algorithm];
  if (!hash || !keyLength || !params.encryptionScheme.parameters) throw bad('Unsupported cipher in the .p12.');
  if (kdf.iterationCount < 1 || kdf.iterationCount > MAX_ITERATIONS) throw bad(`A .p12 with ${kdf.iterationCount} iterations is refused.`);
  const iv = new Uint8Array(AsnConvert.parse(params.encryptionScheme.parameters, OctetString).buffer);
  const pass = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveKey']);
  const key = await crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash, salt: new Uint8Array(kdf.salt.buffer), iterations: kdf.iterationCount },
    pass,
    { name: 'AES-CBC', length: keyLength * 8 },
    false,
    ['decrypt'],
  );
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv }, key, data as Uint8Array<ArrayBuffer>));
  } catch {
    throw new SecureChatError('bad_passphrase', 'Wrong passphrase for this .p12 (or the file is damaged).');
  }
}

async function safeContentsOf(info: ContentInfo, password: string): Promise<SafeContents> {
  if (info.contentType === id_data) return AsnConvert.parse(AsnConvert.parse(info.content, OctetString).buffer, SafeContents);
  if (info.contentType === id_encryptedData) {
    const enc = AsnConvert.parse(info.content, EncryptedData).encryptedContentInfo;
    const c = enc.encryptedContent;
    const parts = c?.value ? [new Uint8Array(c.value.buffer)] : (c?.constructedValue ?? []).map((o) => new Uint8Array(o.buffer));
    if (parts.length === 0) throw bad('Empty encrypted part in the .p12.');
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    return AsnConvert.parse(await pbes2Decrypt(enc.contentEncryptionAlgorithm, bytes, password), SafeContents);
  }
  throw bad('Unsupported content in the .p12.');
}

/** Reads the key and certificates, stores them as this browser's identity, and wipes `file`. */
export async function importP12(file: Uint8Array, password: string, username?: string): Promise<StoredIdentity> {
  let pkcs8: Uint8Array | undefined;
  try {
    const pfx = AsnConvert.parse(file, PFX);
    if (pfx.authSafe.contentType !== id_data) throw bad('A signed .p12 is not supported.');
    const safe = AsnConvert.parse(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer, AuthenticatedSafe);
    const certs: Uint8Array[] = [];
    for (const info of safe) {
      for (const bag of await safeContentsOf(info, password)) {
        if (bag.bagId === id_certBag) certs.push(new Uint8Array(AsnConvert.parse(AsnConvert.parse(bag.bagValue, CertBag).certValue, OctetString).buffer));
        else if (bag.bagId === id_pkcs8ShroudedKeyBag) {
          const epki = AsnConvert.parse(bag.bagValue, EncryptedPrivateKeyInfo);
          pkcs8 = await pbes2Decrypt(epki.encryptionAlgorithm, new Uint8Array(epki.encryptedData.buffer), password);
        } else if (bag.bagId === id_keyBag) pkcs8 = new Uint8Array(bag.bagValue);
      }
    }
    if (!pkcs8) throw bad('The .p12 holds no private key.');
    if (certs.length === 0) throw bad('The .p12 holds no certificate.');
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8 as Uint8Array<ArrayBuffer>, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']).catch(() => {
      throw bad('Only P-256 keys can be used in the browser; issue a P-256 certificate for the web client.');
    });
    // The leaf is the certificate whose key verifies a signature made with the imported key.
    const probe = crypto.getRandomValues(new Uint8Array(32));
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, probe);
    let leafIndex = -1;
    let publicKey: CryptoKey | undefined;
    for (let i = 0; i < certs.length && leafIndex < 0; i++) {
      const cert = new x509.X509Certificate(certs[i] as Uint8Array<ArrayBuffer>);
      const key = await cert.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify']).catch(() => undefined);
      if (key && (await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, sig, probe))) {
        leafIndex = i;
        publicKey = key;
      }
    }
    if (leafIndex < 0 || !publicKey) throw new SecureChatError('bad_certificate', 'No certificate in the .p12 belongs to its key.', { reason: 'key_mismatch' });
    const leaf = new x509.X509Certificate(certs[leafIndex] as Uint8Array<ArrayBuffer>);
    const cn = leaf.subjectName.getField('CN')[0];
    const rest = certs.filter((_, i) => i !== leafIndex).map((der) => ({ der, cert: new x509.X509Certificate(der as Uint8Array<ArrayBuffer>) }));
    const roots = rest.filter((c) => c.cert.subject === c.cert.issuer).map((c) => c.der);
    const intermediates = rest.filter((c) => c.cert.subject !== c.cert.issuer).map((c) => c.der);
    const id: StoredIdentity = {
      username: username ?? cn ?? '',
      privateKey,
      publicKey,
      chain: [certs[leafIndex], ...intermediates],
      ...(roots.length > 0 ? { roots } : {}),
      origin: 'p12',
    };
    await saveIdentity(id);
    return id;
  } finally {
    if (pkcs8) wipe(pkcs8);
    wipe(file);
  }
}
