/**
 * PKCS#12 export. node-forge's own `pkcs12.toPkcs12Asn1` needs forge key and certificate objects,
 * and forge can parse neither EC/Ed25519 keys nor certificates with EC/Ed25519 public keys, so
 * it cannot export our default P-256 material. Instead the PFX is assembled here with forge's
 * ASN.1 encoder, its PKCS#12 key derivation and HMAC, around a key bag that node:crypto encrypts
 * (PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC). The integrity MAC is HMAC-SHA256. OpenSSL 3 opens the
 * result without `-legacy`; it works for every key type the CA issues.
 */
import { X509Certificate, createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { SecureChatError } from '../errors.js';
import { assertWritable, PRIVATE_MODE, readInputText, writeFileAtomic } from './files.js';
import { readPemCertificates, readPrivateKey } from './pem.js';

const { asn1 } = forge;
const OID = {
  data: '1.2.840.113549.1.7.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  sha256: '2.16.840.1.101.3.4.2.1',
};
const MAC_ITERATIONS = 2048;

type Asn1 = forge.asn1.Asn1;

const bin = (b: Buffer): string => b.toString('binary');
const seq = (...items: Asn1[]): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
const set = (...items: Asn1[]): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, items);
const oid = (id: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(id).getBytes());
const octets = (b: Buffer): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bin(b));
const explicit0 = (inner: Asn1): Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [inner]);
const integer = (n: number): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
const der = (node: Asn1): Buffer => Buffer.from(asn1.toDer(node).getBytes(), 'binary');
const fromDer = (b: Buffer): Asn1 => asn1.fromDer(bin(b));

/** forge encodes a BMPSTRING value given as a JS string as UTF-16BE itself. */
function bmpString(text: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, text);
}

function bagAttributes(localKeyId: Buffer, friendlyName?: string): Asn1 {
  const attrs = [seq(oid(OID.localKeyId), set(octets(localKeyId)))];
  if (friendlyName) attrs.push(seq(oid(OID.friendlyName), set(bmpString(friendlyName))));
  return set(...attrs);
}

/** ContentInfo of type `data` wrapping the DER of a SafeContents (unencrypted: certificates are public). */
function dataContentInfo(content: Buffer): Asn1 {
  return seq(oid(OID.data), explicit0(octets(content)));
}

export interface Pkcs12Options {
  /** DER certificates: the leaf first, then any chain certificates. */
  certificates: Buffer[];
  privateKey: KeyObject;
  password: string;
  friendlyName?: string;
}

export function buildPkcs12(opts: Pkcs12Options): Buffer {
  const [leaf] = opts.certificates;
  if (!leaf) throw new Error('buildPkcs12 needs at least one certificate');
  // localKeyID ties the key bag to its certificate for importers (same convention as OpenSSL).
  const localKeyId = createHash('sha1').update(leaf).digest();

  const certBags = opts.certificates.map((certDer, i) =>
    seq(
      oid(OID.certBag),
      explicit0(seq(oid(OID.x509Certificate), explicit0(octets(certDer)))),
      ...(i === 0 ? [bagAttributes(localKeyId, opts.friendlyName)] : []),
    ),
  );
  const encryptedKey = opts.privateKey.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: opts.password });
  const keyBag = seq(oid(OID.pkcs8ShroudedKeyBag), explicit0(fromDer(encryptedKey)), bagAttributes(localKeyId, opts.friendlyName));

  const authSafe = der(seq(dataContentInfo(der(seq(...certBags))), dataContentInfo(der(seq(keyBag)))));

  const salt = randomBytes(16);
  const md = forge.md.sha256.create();
  const macKey = forge.pkcs12.generateKey(opts.password, forge.util.createBuffer(bin(salt)), 3, MAC_ITERATIONS, 32, md);
  const hmac = forge.hmac.create();
  hmac.start('sha256', macKey);
  hmac.update(bin(authSafe));
  const mac = Buffer.from(hmac.digest().getBytes(), 'binary');
  const macData = seq(seq(seq(oid(OID.sha256), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')), octets(mac)), octets(salt), integer(MAC_ITERATIONS));

  return der(seq(integer(3), dataContentInfo(authSafe), macData));
}

export interface ExportPkcs12Options {
  certPath: string;
  keyPath: string;
  outPath: string;
  password: string;
  /** For an encrypted key file. */
  keyPassphrase?: string;
  friendlyName?: string;
  force?: boolean;
}

/** Reads a PEM chain and its key, checks they belong together, and writes the .p12 atomically. */
export function exportPkcs12(opts: ExportPkcs12Options): { outPath: string; certificates: number } {
  assertWritable([opts.outPath], Boolean(opts.force));
  const certificates = readPemCertificates(readInputText(opts.certPath, 'certificate file'));
  const privateKey = readPrivateKey(readInputText(opts.keyPath, 'key file'), opts.keyPassphrase);
  const certKey = new X509Certificate(certificates[0]).publicKey.export({ format: 'der', type: 'spki' });
  if (!certKey.equals(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }))) {
    throw new SecureChatError('bad_input', `${opts.keyPath} is not the key of the first certificate in ${opts.certPath}.`);
  }
  const p12 = buildPkcs12({ certificates, privateKey, password: opts.password, ...(opts.friendlyName ? { friendlyName: opts.friendlyName } : {}) });
  // The bundle holds the private key (password-protected, but still): owner-only like a key file.
  writeFileAtomic(opts.outPath, p12, PRIVATE_MODE);
  return { outPath: opts.outPath, certificates: certificates.length };
}
