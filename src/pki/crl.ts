/** Revocation: marking index entries revoked and publishing freshly signed CRLs to DIR/crl.pem. */
import { SecureChatError } from '../errors.js';
import { parseTimeSpec } from './duration.js';
import { crlExtensions } from './profiles.js';
import { writeFileAtomic } from './files.js';
import { signingAlgorithm } from './keys.js';
import { toPem } from './pem.js';
import { withCaLock } from './ca-lock.js';
import { findIndexEntry, loadCa, readCaIndex, updateCaIndex, writeCaIndex, type CaMember, type IndexEntry, type LoadedCa, type PassphraseSource } from './ca-store.js';
import { x509 } from './x509.js';

export const DEFAULT_CRL_VALIDITY = '7d';

export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export function parseReason(value: string): RevocationReason {
  const match = REVOCATION_REASONS.find((r) => r.toLowerCase() === value.toLowerCase());
  if (!match) throw new SecureChatError('usage', `Unknown revocation reason "${value}"; use one of ${REVOCATION_REASONS.join(', ')}.`);
  return match;
}

async function signCrl(member: CaMember, entries: IndexEntry[], crlNumber: number, now: Date, nextUpdate: Date): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: member.cert.subjectName,
    thisUpdate: now,
    nextUpdate,
    signingKey: member.signingKey,
    signingAlgorithm: signingAlgorithm(member.keyType),
    extensions: crlExtensions(member.cert, crlNumber),
    entries: entries.map((e) => ({
      serialNumber: e.serial,
      revocationDate: new Date(e.revokedAt ?? now),
      reason: x509.X509CrlReason[(e.reason ?? 'unspecified') as RevocationReason],
    })),
  });
  return toPem(crl.rawData, 'X509 CRL');
}

/**
 * Signs a new CRL for every CA in the directory (the intermediate's lists revoked leaves; the
 * root's lists a revoked intermediate) with the next CRL number, and writes them to DIR/crl.pem.
 * The number and the revoked entries come from one locked read of the index; after signing, the
 * file is replaced only if no CRL with a higher number was published meanwhile (that one was
 * made from a later index, so it lists everything this one does). `ca.index` becomes the saved copy.
 */
export async function publishCrl(ca: LoadedCa, opts: { now?: Date; nextUpdate?: string | Date } = {}): Promise<WriteCrlResult> {
  const now = opts.now ?? new Date();
  const nextUpdate = parseTimeSpec(opts.nextUpdate ?? DEFAULT_CRL_VALIDITY, now, '--next-update');
  const snapshot = updateCaIndex(ca.dir, (index) => {
    index.crlNumber += 1;
  });
  const crlNumber = snapshot.crlNumber;
  const revoked = (role: string) => snapshot.certificates.filter((e) => e.issuer === role && e.status === 'revoked');
  const members = ca.intermediate ? [ca.intermediate, ca.root] : [ca.root];
  let pem = '';
  for (const member of members) pem += await signCrl(member, revoked(member.role), crlNumber, now, nextUpdate);
  ca.index = withCaLock(ca.dir, () => {
    const index = readCaIndex(ca.dir);
    if ((index.crlPublished ?? 0) > crlNumber) return index;
    writeFileAtomic(ca.paths.crl, pem);
    index.crlPublished = crlNumber;
    index.crlNextUpdate = nextUpdate.toISOString();
    writeCaIndex(ca.dir, index);
    return index;
  });
  return { crlPath: ca.paths.crl, crlNumber, nextUpdate, revokedCount: snapshot.certificates.filter((e) => e.status === 'revoked').length };
}

export interface WriteCrlOptions {
  dir: string;
  passphrase?: PassphraseSource;
  /** Duration (7d) or date; default 7 days. */
  nextUpdate?: string | Date;
  now?: Date;
}

export interface WriteCrlResult {
  crlPath: string;
  crlNumber: number;
  nextUpdate: Date;
  revokedCount: number;
}

export async function writeCrl(opts: WriteCrlOptions): Promise<WriteCrlResult> {
  const ca = await loadCa(opts.dir, opts.passphrase);
  return publishCrl(ca, opts);
}

export interface RevokeOptions {
  dir: string;
  /**
   * The path of a PEM certificate file, or a serial number (hex, optional 0x and colons), or a
   * unique prefix of one of at least MIN_SERIAL_PREFIX digits.
   */
  target: string;
  reason?: string;
  passphrase?: PassphraseSource;
  nextUpdate?: string | Date;
  now?: Date;
}

export interface RevokeResult extends WriteCrlResult {
  serial: string;
  subject: string;
}

export async function revokeCertificate(opts: RevokeOptions): Promise<RevokeResult> {
  const reason = parseReason(opts.reason ?? 'unspecified');
  // Resolve the target before the key is loaded: a typo must not cost a passphrase prompt.
  const entry = findIndexEntry(readCaIndex(opts.dir), opts.target, opts.dir);
  if (entry.status === 'revoked') {
    throw new SecureChatError('exists', `Certificate ${entry.serial} (${entry.subject}) was already revoked on ${entry.revokedAt}.`);
  }
  const ca = await loadCa(opts.dir, opts.passphrase);
  const now = opts.now ?? new Date();
  // Marked on a fresh read under the CA lock: entries recorded while the passphrase was typed stay.
  updateCaIndex(ca.dir, (index) => {
    const current = index.certificates.find((e) => e.serial === entry.serial);
    if (!current) throw new SecureChatError('not_found', `Certificate ${entry.serial} is no longer in the index of ${opts.dir}.`);
    current.status = 'revoked';
    current.revokedAt = now.toISOString();
    current.reason = reason;
  });
  const crl = await publishCrl(ca, { now, ...(opts.nextUpdate !== undefined ? { nextUpdate: opts.nextUpdate } : {}) });
  return { ...crl, serial: entry.serial, subject: entry.subject };
}
