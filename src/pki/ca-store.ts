/**
 * The on-disk CA directory: file layout, the JSON index of issued certificates, and loading the CA
 * certificates and keys back. Layout (also documented in certs/README.md):
 *
 *   root_ca.pem  root_ca_key.pem                 root CA
 *   intermediate_ca.pem  intermediate_ca_key.pem  only with --intermediate; then it signs leaves
 *   index.json                                     metadata + every issued certificate
 *   crl.pem                                        intermediate CRL (if any) then root CRL
 *   issued/<serial>.pem                            a copy of each issued certificate
 *   enrol-tokens.json                              one-time enrolment tokens, hashed (enrol-tokens.ts)
 *   .ca.lock                                       held while index.json or the token file changes (ca-lock.ts)
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { webcrypto } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import { readInputText, writeFileAtomic } from './files.js';
import { withCaLock } from './ca-lock.js';
import { keyProtectionOf, keyTypeOf, toSigningKey, type KeyProtection, type KeyType } from './keys.js';
import { readPemBlocks, readPrivateKey, toPem } from './pem.js';
import { x509 } from './x509.js';

export type IssuerRole = 'root' | 'intermediate';
export type CertKind = 'server' | 'client' | 'intermediate';
export type CertStatus = 'valid' | 'revoked';

export interface IndexEntry {
  /** Lower-case hex, no leading zeros beyond what DER needs. */
  serial: string;
  kind: CertKind;
  subject: string;
  sans: string[];
  notBefore: string;
  notAfter: string;
  issuer: IssuerRole;
  status: CertStatus;
  revokedAt?: string;
  reason?: string;
  /** Path of the stored copy, relative to the CA directory. */
  file: string;
  /** Set by `ca renew`: the serial of the certificate this one renews. */
  renewedFrom?: string;
  /** Set by the server's enrolment: the id of the one-time token that paid for this certificate. */
  enrolToken?: string;
}

export interface CaIndex {
  version: 1;
  keyType: KeyType;
  intermediate: boolean;
  createdAt: string;
  /** Last CRL number used; each new CRL takes the next one (RFC 5280 §5.2.3: monotonically increasing). */
  crlNumber: number;
  /** The number of the CRL in crl.pem: a slower publisher never replaces a newer CRL with its older one. */
  crlPublished?: number;
  crlNextUpdate?: string;
  certificates: IndexEntry[];
}

export function caPaths(dir: string) {
  return {
    dir,
    rootCert: join(dir, 'root_ca.pem'),
    rootKey: join(dir, 'root_ca_key.pem'),
    intermediateCert: join(dir, 'intermediate_ca.pem'),
    intermediateKey: join(dir, 'intermediate_ca_key.pem'),
    index: join(dir, 'index.json'),
    crl: join(dir, 'crl.pem'),
    issuedDir: join(dir, 'issued'),
  };
}
export type CaPaths = ReturnType<typeof caPaths>;

export function caExists(dir: string): boolean {
  const p = caPaths(dir);
  return [p.rootCert, p.rootKey, p.index].some((f) => existsSync(f));
}

export function readCaIndex(dir: string): CaIndex {
  const p = caPaths(dir);
  if (!existsSync(p.index) || !existsSync(p.rootCert)) {
    throw new SecureChatError('ca_missing', `No CA found in ${dir}; run \`securechat ca init --dir ${dir}\` first.`);
  }
  let index: CaIndex;
  try {
    index = JSON.parse(readInputText(p.index, 'CA index')) as CaIndex;
  } catch (err) {
    if (err instanceof SecureChatError) throw err;
    throw new SecureChatError('bad_input', `The CA index ${p.index} is not valid JSON.`, { cause: err });
  }
  if (index.version !== 1 || !Array.isArray(index.certificates)) {
    throw new SecureChatError('bad_input', `The CA index ${p.index} has an unknown format.`);
  }
  return index;
}

// ------------------------------------------------------------ finding a certificate in the index

function normaliseSerial(value: string): string | undefined {
  const hex = value.trim().toLowerCase().replace(/^0x/, '').replace(/:/g, '');
  if (!/^[0-9a-f]+$/.test(hex)) return undefined;
  return hex.replace(/^0+(?=[0-9a-f])/, '');
}

/** Shorter prefixes are refused: revocation cannot be undone, and "a" matches every 16th serial. */
export const MIN_SERIAL_PREFIX = 4;

function serialOfCertificateFile(path: string): string {
  const block = readPemBlocks(readInputText(path, 'certificate file')).find((b) => b.label === 'CERTIFICATE');
  if (!block) throw new SecureChatError('bad_input', `${path} holds no PEM certificate.`);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(new Uint8Array(block.der));
  } catch (err) {
    throw new SecureChatError('bad_input', `${path} holds a malformed certificate.`, { cause: err });
  }
  return normaliseSerial(cert.serialNumber) ?? '';
}

/**
 * The index entry a revoke target names: an existing file wins; otherwise a full serial or a
 * unique prefix (an ambiguous one lists the candidates, so the next attempt can be exact).
 */
export function findIndexEntry(index: CaIndex, target: string, dir: string): IndexEntry {
  const asHex = normaliseSerial(target);
  if (existsSync(target) || asHex === undefined) {
    const serial = serialOfCertificateFile(target);
    const entry = index.certificates.find((e) => normaliseSerial(e.serial) === serial);
    if (!entry) throw new SecureChatError('not_found', `The certificate in ${target} (serial ${serial}) was not issued by the CA in ${dir}.`);
    return entry;
  }
  const exact = index.certificates.find((e) => normaliseSerial(e.serial) === asHex);
  if (exact) return exact;
  // A prefix is matched against the serial as written (leading zeros kept), as a user copies it.
  const prefix = target.trim().toLowerCase().replace(/^0x/, '').replace(/:/g, '');
  if (prefix.length < MIN_SERIAL_PREFIX) {
    throw new SecureChatError('usage', `"${target}" is neither a file nor a serial; a serial prefix needs at least ${MIN_SERIAL_PREFIX} hex digits.`);
  }
  const matches = index.certificates.filter((e) => e.serial.toLowerCase().startsWith(prefix) || normaliseSerial(e.serial)!.startsWith(prefix));
  if (matches.length === 0) throw new SecureChatError('not_found', `No certificate with a serial starting ${prefix} in the index of ${dir}.`);
  if (matches.length > 1) {
    const list = matches.map((e) => `  ${e.serial}  ${e.subject}  ${e.status}`).join('\n');
    throw new SecureChatError('usage', `The serial prefix ${prefix} is ambiguous; it matches ${matches.length} certificates:\n${list}\nGive more digits.`, {
      details: { candidates: matches.map((e) => ({ serial: e.serial, subject: e.subject, status: e.status })) },
    });
  }
  return matches[0];
}

export function writeCaIndex(dir: string, index: CaIndex): void {
  writeFileAtomic(caPaths(dir).index, JSON.stringify(index, null, 2) + '\n');
}

/**
 * Read-modify-write of index.json under the CA lock, on a fresh read (never on the copy a command
 * loaded before it asked for a passphrase): a certificate the server enrolled meanwhile, or one a
 * parallel `ca issue` added, is never dropped. `mutate` is synchronous; returns the index saved.
 */
export function updateCaIndex(dir: string, mutate: (index: CaIndex) => void): CaIndex {
  return withCaLock(dir, () => {
    const index = readCaIndex(dir);
    mutate(index);
    writeCaIndex(dir, index);
    return index;
  });
}

export function ensureIssuedDir(dir: string): string {
  const issued = caPaths(dir).issuedDir;
  mkdirSync(issued, { recursive: true });
  return issued;
}

/** A CA certificate with its key, ready to sign. */
export interface CaMember {
  role: IssuerRole;
  cert: x509.X509Certificate;
  certPem: string;
  privateKey: KeyObject;
  signingKey: webcrypto.CryptoKey;
  keyType: KeyType;
}

export interface LoadedCa {
  dir: string;
  paths: CaPaths;
  index: CaIndex;
  root: CaMember;
  intermediate?: CaMember;
  /** Who signs leaves: the intermediate when there is one, else the root. */
  issuer: CaMember;
}

/**
 * What signing a leaf needs: the issuing key (the intermediate's when there is one, so that an
 * online signer such as the server's enrolment never needs the root key) and the public chain.
 */
export interface IssuingCa {
  dir: string;
  index: CaIndex;
  issuer: CaMember;
  intermediate?: CaMember;
  /** PEM of the root certificate (the trust anchor an enrolled client installs). */
  rootPem: string;
}

/** The part of a CA that signs and records leaves (a LoadedCa or an IssuingCa). */
export type LeafSigner = Omit<IssuingCa, 'rootPem'>;

export async function caMember(role: IssuerRole, certPem: string, privateKey: KeyObject): Promise<CaMember> {
  const cert = new x509.X509Certificate(certPem);
  return { role, cert, certPem: toPem(cert.rawData, 'CERTIFICATE'), privateKey, signingKey: await toSigningKey(privateKey), keyType: keyTypeOf(privateKey) };
}

/**
 * Where a CA key's passphrase comes from: the text itself (a --passphrase-file), or a function
 * asked only when a key turns out to be encrypted (a terminal prompt), so that argument errors
 * and unencrypted development CAs never make anyone type a passphrase.
 */
export type PassphraseSource = string | (() => Promise<string>);

/** Resolves a PassphraseSource at most once (root and intermediate share one passphrase). */
export function passphraseResolver(source: PassphraseSource | undefined): () => Promise<string | undefined> {
  let resolved: Promise<string | undefined> | undefined;
  return () => (resolved ??= typeof source === 'function' ? source() : Promise.resolve(source));
}

async function loadMember(role: IssuerRole, certPath: string, keyPath: string, passphrase: () => Promise<string | undefined>): Promise<CaMember> {
  const certPem = readInputText(certPath, `${role} CA certificate`);
  const keyPem = readInputText(keyPath, `${role} CA key`);
  const privateKey = readPrivateKey(keyPem, keyProtectionOf(keyPem).encrypted ? await passphrase() : undefined);
  const member = await caMember(role, certPem, privateKey);
  // A key that does not belong to the certificate would sign certificates nobody can verify.
  const certSpki = Buffer.from(member.cert.publicKey.rawData);
  const keySpki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  if (!certSpki.equals(keySpki)) {
    throw new SecureChatError('bad_input', `${keyPath} is not the key of ${certPath}.`);
  }
  return member;
}

/** Loads the CA certificates and (decrypted) keys from DIR. */
export async function loadCa(dir: string, passphrase?: PassphraseSource): Promise<LoadedCa> {
  const index = readCaIndex(dir);
  const paths = caPaths(dir);
  const ask = passphraseResolver(passphrase);
  const root = await loadMember('root', paths.rootCert, paths.rootKey, ask);
  const intermediate = index.intermediate ? await loadMember('intermediate', paths.intermediateCert, paths.intermediateKey, ask) : undefined;
  return { dir, paths, index, root, ...(intermediate ? { intermediate } : {}), issuer: intermediate ?? root };
}

/**
 * Loads only the key that signs leaves: the intermediate's when the CA has one (the root key may
 * then be kept offline, absent from DIR), else the root's.
 */
export async function loadIssuingCa(dir: string, passphrase?: PassphraseSource): Promise<IssuingCa> {
  const index = readCaIndex(dir);
  const paths = caPaths(dir);
  const ask = passphraseResolver(passphrase);
  const rootPem = toPem(new x509.X509Certificate(readInputText(paths.rootCert, 'root CA certificate')).rawData, 'CERTIFICATE');
  if (index.intermediate) {
    const intermediate = await loadMember('intermediate', paths.intermediateCert, paths.intermediateKey, ask);
    return { dir, index, issuer: intermediate, intermediate, rootPem };
  }
  const root = await loadMember('root', paths.rootCert, paths.rootKey, ask);
  return { dir, index, issuer: root, rootPem };
}

/** How each CA key file in DIR is protected (read without decrypting); missing files are left out. */
export function caKeyProtection(dir: string): { role: IssuerRole; path: string; protection: KeyProtection }[] {
  const paths = caPaths(dir);
  const files: [IssuerRole, string][] = [
    ['root', paths.rootKey],
    ['intermediate', paths.intermediateKey],
  ];
  return files.filter(([, path]) => existsSync(path)).map(([role, path]) => ({ role, path, protection: keyProtectionOf(readFileSync(path, 'utf8')) }));
}

/**
 * True when DIR holds a CA key in plaintext (the zero-config development CA, or `ca init
 * --no-passphrase`): the server says so at every start. False when the keys are encrypted or,
 * as in a production deployment, not on this host at all.
 */
export function caKeyIsUnencrypted(dir: string): boolean {
  try {
    return caKeyProtection(dir).some((k) => !k.protection.encrypted);
  } catch {
    return false;
  }
}
