/** Revocation: marking index entries revoked and publishing freshly signed CRLs to DIR/crl.pem. */
import { existsSync } from 'node:fs';
import { SecureChatError } from '../errors.js';
import { parseTimeSpec } from './duration.js';
import { crlExtensions } from './profiles.js';
import { readInputText, writeFileAtomic } from './files.js';
import { signingAlgorithm } from './keys.js';
import { readPemBlocks, toPem } from './pem.js';
import { loadCa, writeCaIndex, type CaMember, type IndexEntry, type LoadedCa } from './ca-store.js';
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
 * Mutates and saves `ca.index`.
 */
export async function publishCrl(ca: LoadedCa, opts: { now?: Date; nextUpdate?: string | Date } = {}): Promise<WriteCrlResult> {
  const now = opts.now ?? new Date();
  const nextUpdate = parseTimeSpec(opts.nextUpdate ?? DEFAULT_CRL_VALIDITY, now, '--next-update');
  const crlNumber = ca.index.crlNumber + 1;
  const revoked = (role: string) => ca.index.certificates.filter((e) => e.issuer === role && e.status === 'revoked');
  const members = ca.intermediate ? [ca.intermediate, ca.root] : [ca.root];
  let pem = '';
  for (const member of members) pem += await signCrl(member, revoked(member.role), crlNumber, now, nextUpdate);
  writeFileAtomic(ca.paths.crl, pem);
  ca.index.crlNumber = crlNumber;
  ca.index.crlNextUpdate = nextUpdate.toISOString();
  writeCaIndex(ca.dir, ca.index);
  return { crlPath: ca.paths.crl, crlNumber, nextUpdate, revokedCount: ca.index.certificates.filter((e) => e.status === 'revoked').length };
}

export interface WriteCrlOptions {
  dir: string;
  passphrase?: string;
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
  /** A serial number (hex, optional 0x and colons) or the path of a PEM certificate file. */
  target: string;
  reason?: string;
  passphrase?: string;
  nextUpdate?: string | Date;
  now?: Date;
}

export interface RevokeResult extends WriteCrlResult {
  serial: string;
  subject: string;
}

function normaliseSerial(value: string): string | undefined {
  const hex = value.trim().toLowerCase().replace(/^0x/, '').replace(/:/g, '');
  if (!/^[0-9a-f]+$/.test(hex)) return undefined;
  return hex.replace(/^0+(?=[0-9a-f])/, '');
}

function serialOfTarget(target: string): string {
  const serial = normaliseSerial(target);
  // An existing file wins; otherwise anything hex of at least 64 bits is a serial.
  if (!existsSync(target) && serial !== undefined && serial.length >= 16) return serial;
  const block = readPemBlocks(readInputText(target, 'certificate file')).find((b) => b.label === 'CERTIFICATE');
  if (!block) throw new SecureChatError('bad_input', `${target} holds no PEM certificate.`);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(new Uint8Array(block.der));
  } catch (err) {
    throw new SecureChatError('bad_input', `${target} holds a malformed certificate.`, { cause: err });
  }
  return normaliseSerial(cert.serialNumber) ?? '';
}

export async function revokeCertificate(opts: RevokeOptions): Promise<RevokeResult> {
  const reason = parseReason(opts.reason ?? 'unspecified');
  const serial = serialOfTarget(opts.target);
  const ca = await loadCa(opts.dir, opts.passphrase);
  const entry = ca.index.certificates.find((e) => normaliseSerial(e.serial) === serial);
  if (!entry) throw new SecureChatError('not_found', `No certificate with serial ${serial} in the index of ${opts.dir}.`);
  if (entry.status === 'revoked') {
    throw new SecureChatError('exists', `Certificate ${serial} (${entry.subject}) was already revoked on ${entry.revokedAt}.`);
  }
  const now = opts.now ?? new Date();
  entry.status = 'revoked';
  entry.revokedAt = now.toISOString();
  entry.reason = reason;
  const crl = await publishCrl(ca, { now, ...(opts.nextUpdate !== undefined ? { nextUpdate: opts.nextUpdate } : {}) });
  return { ...crl, serial: entry.serial, subject: entry.subject };
}
