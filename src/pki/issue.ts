/** Issuing server and client certificates from a CA directory, with a fresh key or from a CSR. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { SecureChatError } from '../errors.js';
import { parseTimeSpec } from './duration.js';
import { assertUsername, commonName, leafExtensions, parseSan, randomSerialHex, sanText, type LeafKind, type SanEntry } from './profiles.js';
import { assertWritable, PRIVATE_MODE, writeFileAtomic } from './files.js';
import { exportPrivateKeyPem, generateKeyPair, keyTypeOf, signingAlgorithm, toPublicCryptoKey, type KeyType } from './keys.js';
import { readPemBlocks, toPem } from './pem.js';
import { ensureIssuedDir, loadCa, updateCaIndex, type IndexEntry, type LeafSigner, type PassphraseSource } from './ca-store.js';
import { x509 } from './x509.js';

export const DEFAULT_SERVER_SANS = ['localhost', '127.0.0.1', '::1'];
export const DEFAULT_VALIDITY: Record<LeafKind, string> = { server: '365d', client: '90d' };
/** Backdating absorbs small clock differences between the CA and the peers that check the cert. */
export const BACKDATE_MS = 60_000;

export interface IssueOptions {
  dir: string;
  kind: LeafKind;
  /** Server: its DNS name or IP (also a SAN). Client: the username, which becomes the CN. */
  name: string;
  /** Extra server SANs (`DNS:x`, `IP:y` or bare); default localhost, 127.0.0.1, ::1. */
  sans?: string[];
  /** Duration (90d, 24h) or date; default server 1 year, client 90 days. */
  notAfter?: string | Date;
  notBefore?: Date;
  /** Key type of a generated key (default p256); ignored with a CSR. */
  keyType?: KeyType;
  /** PEM text of a PKCS#10 request: the certificate gets its key, no key is generated or written. */
  csrPem?: string;
  passphrase?: PassphraseSource;
  /** Default DIR/<name>_cert.pem and DIR/<name>_key.pem. */
  certOut?: string;
  keyOut?: string;
  /** Overwrite existing outputs, and sign a CSR whose CN is not `name` (the certificate still gets `name`). */
  force?: boolean;
  now?: Date;
}

/** What `ca issue` and `ca renew` wrote. */
export interface IssuedFiles {
  serial: string;
  subject: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  certPath: string;
  /** Absent when no key was written (a CSR, or a renewal on the same key). */
  keyPath?: string;
}

export interface IssueResult extends IssuedFiles {
  /** The leaf followed by the intermediate, if any: what a peer presents. */
  chainPem: string;
  keyPem?: string;
}

function serverSans(name: string, extra: string[] | undefined): SanEntry[] {
  const all = [parseSan(name), ...(extra && extra.length > 0 ? extra : DEFAULT_SERVER_SANS).map(parseSan)];
  const seen = new Set<string>();
  return all.filter((s) => (seen.has(sanText(s)) ? false : (seen.add(sanText(s)), true)));
}

/** The public key and requested CN of a CSR whose self-signature verifies; anything else is `bad_csr`. */
export async function readCsr(csrPem: string): Promise<{ key: KeyObject; commonName: string | undefined }> {
  const block = readPemBlocks(csrPem).find((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
  if (!block) throw new SecureChatError('bad_input', 'No PEM CERTIFICATE REQUEST block found in the CSR file.');
  let csr: x509.Pkcs10CertificateRequest;
  let ok = false;
  try {
    csr = new x509.Pkcs10CertificateRequest(new Uint8Array(block.der));
    ok = await csr.verify();
  } catch (err) {
    throw new SecureChatError('bad_csr', 'The CSR is malformed or uses an unsupported algorithm.', { cause: err });
  }
  if (!ok) throw new SecureChatError('bad_csr', 'The CSR signature does not verify; it was not made with the key it carries.');
  const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  try {
    keyTypeOf(key);
  } catch (err) {
    throw new SecureChatError('bad_csr', 'The CSR key type is not accepted (use P-256, P-384, Ed25519 or RSA >= 2048).', { cause: err });
  }
  return { key, commonName: csr.subjectName.getField('CN')[0] };
}

/**
 * The certificate's subject is always the name on the command line, never the CSR's. When the
 * two differ, someone is probably signing the wrong request (bob's CSR as alice): refuse unless
 * the operator says --force.
 */
function assertCsrName(csrCommonName: string | undefined, name: string, force: boolean): void {
  if (csrCommonName === undefined || csrCommonName === name || force) return;
  throw new SecureChatError(
    'usage',
    `The CSR asks for CN=${csrCommonName}, but the certificate would be issued to CN=${name}. Check that this is the right request; pass --force to issue it as CN=${name} anyway.`,
    { details: { csrCommonName, name } },
  );
}

export interface LeafSpec {
  kind: LeafKind;
  /** X.500 name text (`CN=alice`), or the Name of a certificate being renewed (kept byte for byte). */
  subject: string | x509.Name;
  sans: SanEntry[];
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
}

/** Signs a leaf with the CA's issuer; checks that it fits in the issuer's validity. */
export async function signLeaf(ca: LeafSigner, spec: LeafSpec): Promise<{ serial: string; leafPem: string; chainPem: string }> {
  if (spec.notAfter > ca.issuer.cert.notAfter) {
    throw new SecureChatError('usage', `--not-after ${spec.notAfter.toISOString()} is beyond the issuing CA's expiry ${ca.issuer.cert.notAfter.toISOString()}.`);
  }
  const publicKey = await toPublicCryptoKey(spec.publicKey);
  const serial = randomSerialHex();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: spec.subject,
    issuer: ca.issuer.cert.subjectName,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey,
    signingKey: ca.issuer.signingKey,
    signingAlgorithm: signingAlgorithm(ca.issuer.keyType),
    extensions: await leafExtensions({ kind: spec.kind, keyType: keyTypeOf(spec.publicKey), publicKey, issuer: ca.issuer.cert, sans: spec.sans }),
  });
  const leafPem = toPem(cert.rawData, 'CERTIFICATE');
  return { serial, leafPem, chainPem: leafPem + (ca.intermediate ? ca.intermediate.certPem : '') };
}

/**
 * Writes what signLeaf made — the new key first (a certificate on disk without its key would be
 * unusable; the reverse is merely unused), then the chain — and records it in the CA's index.
 */
export function saveIssued(
  ca: LeafSigner,
  signed: { leafPem: string; chainPem: string },
  files: { certPath: string; keyPath?: string; keyPem?: string },
  entry: Omit<IndexEntry, 'file' | 'issuer' | 'status'>,
): IndexEntry {
  if (files.keyPath && files.keyPem) writeFileAtomic(files.keyPath, files.keyPem, PRIVATE_MODE);
  writeFileAtomic(files.certPath, signed.chainPem);
  return recordIssued(ca, entry, signed.leafPem);
}

/**
 * Keeps a copy under issued/ and adds the entry to the index — the one place issuance is recorded
 * (`ca issue`, `ca renew`, the server's enrolment). The index is re-read under the CA lock, so a
 * certificate recorded meanwhile by another process stays; `ca.index` becomes the saved copy.
 */
export function recordIssued(ca: LeafSigner, entry: Omit<IndexEntry, 'file' | 'issuer' | 'status'>, leafPem: string): IndexEntry {
  writeFileAtomic(join(ensureIssuedDir(ca.dir), `${entry.serial}.pem`), leafPem);
  const full: IndexEntry = { ...entry, issuer: ca.issuer.role, status: 'valid', file: join('issued', `${entry.serial}.pem`) };
  ca.index = updateCaIndex(ca.dir, (index) => {
    index.certificates.push(full);
  });
  return full;
}

export async function issueCertificate(opts: IssueOptions): Promise<IssueResult> {
  const now = opts.now ?? new Date();
  // Argument checks first: a usage error must not depend on the CA or its passphrase.
  if (opts.kind === 'client') assertUsername(opts.name);
  const sans = opts.kind === 'server' ? serverSans(opts.name, opts.sans) : [];
  if (opts.kind === 'client' && opts.sans && opts.sans.length > 0) {
    throw new SecureChatError('usage', '--san applies to server certificates only.');
  }
  const notAfter = parseTimeSpec(opts.notAfter ?? DEFAULT_VALIDITY[opts.kind], now);
  const notBefore = opts.notBefore ?? new Date(now.getTime() - BACKDATE_MS);
  const fileStem = opts.name.replace(/[^a-zA-Z0-9_.-]/g, '_');
  const certPath = opts.certOut ?? join(opts.dir, `${fileStem}_cert.pem`);
  const keyPath = opts.csrPem === undefined ? (opts.keyOut ?? join(opts.dir, `${fileStem}_key.pem`)) : undefined;
  assertWritable(keyPath ? [certPath, keyPath] : [certPath], Boolean(opts.force));

  const csr = opts.csrPem !== undefined ? await readCsr(opts.csrPem) : undefined;
  if (csr) assertCsrName(csr.commonName, opts.name, Boolean(opts.force));
  const ca = await loadCa(opts.dir, opts.passphrase);

  const generated = csr ? undefined : generateKeyPair(opts.keyType ?? 'p256');
  // A server's CN is a byte-for-byte copy of its first SAN (CABF BR 7.1.4.3): same case, canonical IP text.
  const subject = commonName(opts.kind === 'server' ? sans[0].value : opts.name);
  const signed = await signLeaf(ca, { kind: opts.kind, subject, sans, publicKey: csr?.key ?? generated!.publicKey, notBefore, notAfter });
  const { serial, chainPem } = signed;
  const keyPem = generated ? exportPrivateKeyPem(generated.privateKey) : undefined;
  const entry = saveIssued(ca, signed, { certPath, ...(keyPath ? { keyPath } : {}), ...(keyPem ? { keyPem } : {}) }, {
    serial, kind: opts.kind, subject, sans: sans.map(sanText), notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(),
  });
  return {
    serial,
    subject,
    sans: entry.sans,
    notBefore,
    notAfter,
    certPath,
    ...(keyPath ? { keyPath } : {}),
    chainPem,
    ...(keyPem ? { keyPem } : {}),
  };
}
