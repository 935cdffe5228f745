/**
 * `ca renew`: a new certificate for the same subject and SANs with a fresh validity period, on
 * the same key (default) or a new one. The certificate renewed is the CA's own stored copy, not
 * whatever the presented file claims, so a doctored file cannot renew into different names.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecureChatError } from '../errors.js';
import { parseTimeSpec } from './duration.js';
import { assertWritable, readInputText } from './files.js';
import { exportPrivateKeyPem, generateKeyPair, keyTypeOf, type KeyType } from './keys.js';
import { readPemCertificates } from './pem.js';
import { type SanEntry } from './profiles.js';
import { findIndexEntry, loadCa, readCaIndex, type PassphraseSource } from './ca-store.js';
import { BACKDATE_MS, saveIssued, signLeaf, type IssuedFiles } from './issue.js';
import { x509 } from './x509.js';

export interface RenewOptions {
  dir: string;
  /** The certificate to renew (PEM; the first certificate in the file). */
  certPath: string;
  /** Duration or date; default: the lifetime the old certificate had. */
  notAfter?: string | Date;
  /** Generate a new key instead of certifying the old one again. */
  newKey?: boolean;
  /** Type of the new key; default the old key's type. */
  keyType?: KeyType;
  /** Default: replace `certPath` (the old certificate stays in DIR/issued/ and stays valid until it expires or is revoked). */
  out?: string;
  /** With `newKey`: default the sibling `<stem>_key.pem` of a `<stem>_cert.pem`. */
  keyOut?: string;
  /** Allow an explicit --out / --key-out to replace an existing file. */
  force?: boolean;
  passphrase?: PassphraseSource;
  now?: Date;
}

export interface RenewResult extends IssuedFiles {
  previousSerial: string;
}

function sansOf(cert: x509.X509Certificate): SanEntry[] {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return (ext?.names.items ?? []).map((n) => {
    if (n.type !== 'dns' && n.type !== 'ip') throw new SecureChatError('bad_input', `The certificate has a ${n.type} SAN, which this CA does not issue.`);
    return { type: n.type, value: n.value };
  });
}

function defaultKeyOut(certPath: string): string {
  if (/_cert\.pem$/.test(certPath)) return certPath.replace(/_cert\.pem$/, '_key.pem');
  throw new SecureChatError('usage', `--new-key needs --key-out FILE (${certPath} is not named <name>_cert.pem, so there is no obvious key file).`);
}

export async function renewCertificate(opts: RenewOptions): Promise<RenewResult> {
  const now = opts.now ?? new Date();
  // Everything that can be wrong with the arguments is found before the CA key is loaded.
  if (opts.keyType && !opts.newKey) throw new SecureChatError('usage', '--key-type applies to a new key: add --new-key.');
  if (opts.keyOut && !opts.newKey) throw new SecureChatError('usage', '--key-out applies to a new key: add --new-key.');
  const presented = readPemCertificates(readInputText(opts.certPath, 'certificate file'))[0];
  const index = readCaIndex(opts.dir);
  const entry = findIndexEntry(index, opts.certPath, opts.dir);
  if (entry.kind === 'intermediate') throw new SecureChatError('usage', 'ca renew renews server and client certificates; an intermediate CA is replaced with ca init.');
  if (entry.status === 'revoked') {
    throw new SecureChatError('bad_certificate', `Certificate ${entry.serial} (${entry.subject}) was revoked on ${entry.revokedAt}; issue a new one instead of renewing it.`, {
      reason: 'revoked',
    });
  }
  const storedDer = readPemCertificates(readFileSync(join(opts.dir, entry.file), 'utf8'))[0];
  if (!storedDer.equals(presented)) throw new SecureChatError('bad_input', `${opts.certPath} does not match the CA's copy of serial ${entry.serial} (${entry.file}).`);
  const old = new x509.X509Certificate(new Uint8Array(storedDer));
  const sans = sansOf(old);

  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const lifetime = old.notAfter.getTime() - old.notBefore.getTime();
  const notAfter = opts.notAfter !== undefined ? parseTimeSpec(opts.notAfter, now) : new Date(notBefore.getTime() + lifetime);
  const certPath = opts.out ?? opts.certPath;
  const keyPath = opts.newKey ? (opts.keyOut ?? defaultKeyOut(opts.certPath)) : undefined;
  const explicit = [...(opts.out ? [opts.out] : []), ...(opts.keyOut && opts.newKey ? [opts.keyOut] : [])];
  assertWritable(explicit, Boolean(opts.force));

  const oldKey = new X509Certificate(storedDer).publicKey;
  const generated = opts.newKey ? generateKeyPair(opts.keyType ?? keyTypeOf(oldKey)) : undefined;
  const ca = await loadCa(opts.dir, opts.passphrase);
  const signed = await signLeaf(ca, {
    kind: entry.kind,
    subject: old.subjectName,
    sans,
    publicKey: generated?.publicKey ?? oldKey,
    notBefore,
    notAfter,
  });
  const { serial } = signed;
  const keyFiles = generated && keyPath ? { keyPath, keyPem: exportPrivateKeyPem(generated.privateKey) } : {};
  const recorded = saveIssued(ca, signed, { certPath, ...keyFiles }, {
    serial, kind: entry.kind, subject: entry.subject, sans: entry.sans, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), renewedFrom: entry.serial,
  });
  return {
    serial,
    previousSerial: entry.serial,
    subject: recorded.subject,
    sans: recorded.sans,
    notBefore,
    notAfter,
    certPath,
    ...(keyPath ? { keyPath } : {}),
  };
}
