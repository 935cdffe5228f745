/** The file side of PKCS#12 for `ca export-p12` / `ca import-p12`; the format itself is in p12.ts. */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import { assertWritable, PRIVATE_MODE, readInputFile, readInputText, writeFileAtomic } from './files.js';
import { exportPrivateKeyPem } from './keys.js';
import { buildPkcs12, parsePkcs12 } from './p12.js';
import { readPemCertificates, readPrivateKey, toPem } from './pem.js';

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
  const p12 = buildPkcs12({
    certificates,
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }),
    password: opts.password,
    ...(opts.friendlyName ? { friendlyName: opts.friendlyName } : {}),
  });
  // The bundle holds the private key (password-protected, but still): owner-only like a key file.
  writeFileAtomic(opts.outPath, p12, PRIVATE_MODE);
  return { outPath: opts.outPath, certificates: certificates.length };
}

export interface ImportPkcs12Options {
  p12Path: string;
  password: string;
  certOut: string;
  keyOut: string;
  /** Encrypt the written key (scrypt PKCS#8); default plaintext, like the keys `ca issue` writes. */
  keyPassphrase?: string;
  force?: boolean;
}

export interface ImportPkcs12Result {
  certPath: string;
  keyPath: string;
  certificates: number;
  subject: string;
  friendlyName?: string;
  mac: string;
}

/** Unpacks a .p12 (ours, OpenSSL's default or -legacy) into a PEM chain (leaf first) and a PEM key (0600). */
export function importPkcs12(opts: ImportPkcs12Options): ImportPkcs12Result {
  assertWritable([opts.certOut, opts.keyOut], Boolean(opts.force));
  const parsed = parsePkcs12(readInputFile(opts.p12Path, 'PKCS#12 file'), opts.password);
  const key = createPrivateKey({ key: parsed.privateKey, format: 'der', type: 'pkcs8' });
  writeFileAtomic(opts.keyOut, exportPrivateKeyPem(key, opts.keyPassphrase), PRIVATE_MODE);
  writeFileAtomic(opts.certOut, parsed.certificates.map((der) => toPem(der, 'CERTIFICATE')).join(''));
  parsed.privateKey.fill(0);
  return {
    certPath: opts.certOut,
    keyPath: opts.keyOut,
    certificates: parsed.certificates.length,
    subject: new X509Certificate(parsed.certificates[0]).subject.replace(/\n/g, ', '),
    ...(parsed.friendlyName ? { friendlyName: parsed.friendlyName } : {}),
    mac: parsed.mac,
  };
}
