/**
 * The certificate authority: `initCa` creates a CA directory; issuing, revoking and CRLs live in
 * sibling modules and are re-exported here so callers have one entry point.
 */
import { mkdirSync } from 'node:fs';
import { SecureChatError } from '../errors.js';
import { parseTimeSpec } from './duration.js';
import { commonName, intermediateExtensions, randomSerialHex, rootExtensions } from './profiles.js';
import { PRIVATE_MODE, writeFileAtomic } from './files.js';
import { exportPrivateKeyPem, generateKeyPair, signingAlgorithm, toPublicCryptoKey, toSigningKey, type KeyType } from './keys.js';
import { caExists, caMember, caPaths, writeCaIndex, type CaIndex, type IndexEntry, type LoadedCa } from './ca-store.js';
import { DEFAULT_CRL_VALIDITY, publishCrl } from './crl.js';
import { x509 } from './x509.js';
import { toPem } from './pem.js';

export { loadCa, readCaIndex, caPaths, caExists } from './ca-store.js';
export type { LoadedCa, CaMember, CaIndex, IndexEntry, CertKind, CertStatus, IssuerRole } from './ca-store.js';
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
  /** Encrypts the CA keys (PKCS#8, AES-256-CBC). */
  passphrase?: string;
  force?: boolean;
  /** Common name of the root; the intermediate's is derived from it. */
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
  files: string[];
}

export const DEFAULT_CA_NAME = 'SecureChat Root CA';

export async function initCa(opts: InitCaOptions): Promise<InitCaResult> {
  const now = opts.now ?? new Date();
  const keyType = opts.keyType ?? 'p256';
  const rootName = opts.name ?? DEFAULT_CA_NAME;
  const rootNotAfter = parseTimeSpec(opts.validity ?? '3650d', now, '--validity');
  const crlNextUpdate = parseTimeSpec(opts.crlNextUpdate ?? DEFAULT_CRL_VALIDITY, now, '--next-update');
  if (caExists(opts.dir) && !opts.force) {
    throw new SecureChatError('ca_exists', `A CA already exists in ${opts.dir}; pass --force to replace it.`);
  }
  mkdirSync(opts.dir, { recursive: true });
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
      subject: commonName(rootName.replace(/Root CA$/, '').trim() + ' Intermediate CA'),
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

  writeFileAtomic(paths.rootKey, exportPrivateKeyPem(rootKeys.privateKey, opts.passphrase), PRIVATE_MODE);
  writeFileAtomic(paths.rootCert, rootCertPem);
  const files = [paths.rootCert, paths.rootKey];
  const certificates: IndexEntry[] = [];
  if (intermediate && intermediateSerial) {
    writeFileAtomic(paths.intermediateKey, exportPrivateKeyPem(intermediate.privateKey, opts.passphrase), PRIVATE_MODE);
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
  return { dir: opts.dir, keyType, rootSerial, ...(intermediateSerial ? { intermediateSerial } : {}), files };
}
