/**
 * The certificate authority: `initCa` creates a CA directory; issuing, revoking and CRLs live in
 * sibling modules and are re-exported here so callers have one entry point.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { SecureChatError } from '../errors.js';
import { parseTimeSpec } from './duration.js';
import { commonName, intermediateExtensions, randomSerialHex, rootExtensions } from './profiles.js';
import { PRIVATE_MODE, writeFileAtomic } from './files.js';
import { exportPrivateKeyPem, generateKeyPair, signingAlgorithm, toPublicCryptoKey, toSigningKey, type KeyType } from './keys.js';
import { caExists, caMember, caPaths, loadCa, writeCaIndex, type CaIndex, type IndexEntry, type LoadedCa, type PassphraseSource } from './ca-store.js';
import { DEFAULT_CRL_VALIDITY, publishCrl } from './crl.js';
import { x509 } from './x509.js';
import { toPem } from './pem.js';

export { loadCa, readCaIndex, caPaths, caExists, caKeyIsUnencrypted, caKeyProtection } from './ca-store.js';
export type { PassphraseSource, LoadedCa, CaMember, CaIndex, IndexEntry, CertKind, CertStatus, IssuerRole } from './ca-store.js';
export { issueCertificate, DEFAULT_SERVER_SANS, DEFAULT_VALIDITY } from './issue.js';
export type { IssueOptions, IssueResult } from './issue.js';
export { revokeCertificate, writeCrl, REVOCATION_REASONS, DEFAULT_CRL_VALIDITY } from './crl.js';
export type { RevokeOptions, RevokeResult, WriteCrlOptions, WriteCrlResult, RevocationReason } from './crl.js';
export { readPemCertificates, readPemBlocks, readPrivateKey, toPem } from './pem.js';
export { KEY_TYPES, type KeyType } from './keys.js';

export interface InitCaOptions {
  dir: string;
  keyType?: KeyType;
  /** Also create an intermediate CA (pathLen 0) that signs every leaf. */
  intermediate?: boolean;
  /**
   * Encrypts the CA keys (PKCS#8, PBES2 scrypt + AES-256-CBC). A function is called once, after
   * the arguments and the directory have been checked (a terminal prompt).
   */
  passphrase?: PassphraseSource;
  /** Must be set, instead of a passphrase, to write the CA keys in plaintext (development CA). */
  unencrypted?: boolean;
  force?: boolean;
  /** Common name of the root; the intermediate's is derived from it. Default: "SecureChat Root CA <4 random hex>". */
  name?: string;
  /** Root validity, default 10 years; the intermediate gets half of it. */
  validity?: string;
  crlNextUpdate?: string | Date;
  now?: Date;
}

export interface InitCaResult {
  dir: string;
  keyType: KeyType;
  rootSerial: string;
  intermediateSerial?: string;
  /** Root and intermediate common names. */
  rootName: string;
  intermediateName?: string;
  encrypted: boolean;
  files: string[];
}

export const DEFAULT_CA_NAME = 'SecureChat Root CA';
/** New CA passphrases shorter than this are refused: the KDF slows guessing, it cannot fix "1234". */
export const MIN_CA_PASSPHRASE = 8;

/**
 * Default names carry a random suffix so that two CAs (two test set-ups, dev and staging) never
 * share a subject: a client that trusts one would otherwise be told "untrusted" about the other
 * with both named the same, and path builders match issuers by name first.
 */
export function defaultCaNames(suffix = randomBytes(2).toString('hex')): { root: string; intermediate: string } {
  return { root: `${DEFAULT_CA_NAME} ${suffix}`, intermediate: `SecureChat Intermediate CA ${suffix}` };
}

/** "Example Root CA" -> "Example Intermediate CA"; any other name gets " Intermediate CA" appended. */
export function intermediateNameFor(rootName: string): string {
  return /\bRoot CA\b/.test(rootName) ? rootName.replace(/\bRoot CA\b/, 'Intermediate CA') : `${rootName} Intermediate CA`;
}

/** Argument and directory checks of `initCa`, callable before a passphrase is asked for. */
export function assertCanInit(dir: string, force = false): void {
  if (caExists(dir) && !force) {
    throw new SecureChatError('ca_exists', `A CA already exists in ${dir}; pass --force to replace it.`);
  }
}

/** Exactly one of a passphrase and an explicit `unencrypted`: keys are never left plaintext by omission. */
function assertProtectionChoice(opts: InitCaOptions): void {
  if (opts.unencrypted && opts.passphrase !== undefined) throw new SecureChatError('usage', 'Give either a passphrase or --no-passphrase, not both.');
  if (!opts.unencrypted && opts.passphrase === undefined) {
    throw new SecureChatError('usage', 'The CA keys are encrypted by default: give --passphrase-file FILE, or --no-passphrase for an unencrypted (development) CA.');
  }
}

/** Resolves a new CA passphrase and enforces the minimum length. */
export async function newCaPassphrase(source: PassphraseSource): Promise<string> {
  const passphrase = typeof source === 'function' ? await source() : source;
  if ([...passphrase].length < MIN_CA_PASSPHRASE) {
    throw new SecureChatError('usage', `The CA passphrase must have at least ${MIN_CA_PASSPHRASE} characters.`);
  }
  return passphrase;
}

export interface ChangePassphraseOptions {
  dir: string;
  /** The current passphrase (not needed for an unencrypted development CA). */
  passphrase?: PassphraseSource;
  newPassphrase: PassphraseSource;
}

/**
 * Re-encrypts the CA keys under a new passphrase (scrypt), or encrypts a development CA's
 * plaintext keys for the first time. Each key file is replaced atomically.
 */
export async function changeCaPassphrase(opts: ChangePassphraseOptions): Promise<{ files: string[] }> {
  const ca = await loadCa(opts.dir, opts.passphrase);
  const passphrase = await newCaPassphrase(opts.newPassphrase);
  const members = ca.intermediate ? [ca.root, ca.intermediate] : [ca.root];
  const files = members.map((m) => (m.role === 'root' ? ca.paths.rootKey : ca.paths.intermediateKey));
  // Encrypt both before writing either, so a failure cannot leave one key under each passphrase.
  const pems = members.map((m) => exportPrivateKeyPem(m.privateKey, passphrase));
  pems.forEach((pem, i) => writeFileAtomic(files[i], pem, PRIVATE_MODE));
  return { files };
}

export async function initCa(opts: InitCaOptions): Promise<InitCaResult> {
  const now = opts.now ?? new Date();
  const keyType = opts.keyType ?? 'p256';
  const defaults = defaultCaNames();
  const rootName = opts.name ?? defaults.root;
  const intermediateName = opts.name ? intermediateNameFor(opts.name) : defaults.intermediate;
  const rootNotAfter = parseTimeSpec(opts.validity ?? '3650d', now, '--validity');
  const crlNextUpdate = parseTimeSpec(opts.crlNextUpdate ?? DEFAULT_CRL_VALIDITY, now, '--next-update');
  assertProtectionChoice(opts);
  assertCanInit(opts.dir, opts.force);
  const passphrase = opts.passphrase === undefined ? undefined : await newCaPassphrase(opts.passphrase);
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const paths = caPaths(opts.dir);
  const notBefore = new Date(now.getTime() - 60_000);

  const rootKeys = generateKeyPair(keyType);
  const rootPublic = await toPublicCryptoKey(rootKeys.publicKey);
  const rootSerial = randomSerialHex();
  const rootCertDer = (
      await x509.X509CertificateGenerator.create({
        serialNumber: rootSerial,
        subject: commonName(rootName),
        issuer: commonName(rootName),
        notBefore,
        notAfter: rootNotAfter,
        publicKey: rootPublic,
        signingKey: await toSigningKey(rootKeys.privateKey),
        signingAlgorithm: signingAlgorithm(keyType),
        // The root may only certify an intermediate (or leaves directly when there is none).
        extensions: await rootExtensions(rootPublic, opts.intermediate ? 1 : 0),
      })
    ).rawData;
  const rootCertPem = toPem(rootCertDer, 'CERTIFICATE');
  const root = await caMember('root', rootCertPem, rootKeys.privateKey);

  let intermediate: Awaited<ReturnType<typeof caMember>> | undefined;
  let intermediateSerial: string | undefined;
  if (opts.intermediate) {
    const keys = generateKeyPair(keyType);
    const pub = await toPublicCryptoKey(keys.publicKey);
    intermediateSerial = randomSerialHex();
    const notAfter = new Date(now.getTime() + (rootNotAfter.getTime() - now.getTime()) / 2);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: intermediateSerial,
      subject: commonName(intermediateName),
      issuer: root.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: pub,
      signingKey: root.signingKey,
      signingAlgorithm: signingAlgorithm(keyType),
      extensions: await intermediateExtensions(pub, root.cert),
    });
    intermediate = await caMember('intermediate', toPem(cert.rawData, 'CERTIFICATE'), keys.privateKey);
  }

  writeFileAtomic(paths.rootKey, exportPrivateKeyPem(rootKeys.privateKey, passphrase), PRIVATE_MODE);
  writeFileAtomic(paths.rootCert, rootCertPem);
  const files = [paths.rootCert, paths.rootKey];
  const certificates: IndexEntry[] = [];
  if (intermediate && intermediateSerial) {
    writeFileAtomic(paths.intermediateKey, exportPrivateKeyPem(intermediate.privateKey, passphrase), PRIVATE_MODE);
    writeFileAtomic(paths.intermediateCert, intermediate.certPem);
    files.push(paths.intermediateCert, paths.intermediateKey);
    certificates.push({
      serial: intermediateSerial,
      kind: 'intermediate',
      subject: intermediate.cert.subject,
      sans: [],
      notBefore: intermediate.cert.notBefore.toISOString(),
      notAfter: intermediate.cert.notAfter.toISOString(),
      issuer: 'root',
      status: 'valid',
      file: 'intermediate_ca.pem',
    });
  }
  const index: CaIndex = { version: 1, keyType, intermediate: Boolean(intermediate), createdAt: now.toISOString(), crlNumber: 0, certificates };
  writeCaIndex(opts.dir, index);
  const ca: LoadedCa = { dir: opts.dir, paths, index, root, ...(intermediate ? { intermediate } : {}), issuer: intermediate ?? root };
  await publishCrl(ca, { now, nextUpdate: crlNextUpdate });
  files.push(paths.index, paths.crl);
  return {
    dir: opts.dir,
    keyType,
    rootSerial,
    rootName,
    ...(intermediateSerial ? { intermediateSerial, intermediateName } : {}),
    encrypted: passphrase !== undefined,
    files,
  };
}
