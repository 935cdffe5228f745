/**
 * What `ca list` reports: the CA certificates themselves (root, intermediate) with how their keys
 * are protected, and every issued certificate, each with a state derived at read time (the index
 * records only what the CA decided: valid or revoked).
 */
import { existsSync, readFileSync } from 'node:fs';
import { caKeyProtection, caPaths, readCaIndex, type IndexEntry, type IssuerRole } from './ca-store.js';
import type { KeyProtection } from './keys.js';
import { x509 } from './x509.js';

/** Certificates that expire within this many days are flagged (step's and most monitors' default). */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export type CertState = 'valid' | 'expiring' | 'expired' | 'not_yet_valid' | 'revoked';

export interface AuthorityListing {
  role: IssuerRole;
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  state: Exclude<CertState, 'revoked'>;
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number;
  /** null when the key file is not in the directory (kept offline). */
  key: KeyProtection | null;
}

export interface CertificateListing extends IndexEntry {
  state: CertState;
  daysLeft: number;
}

export interface CaListing {
  dir: string;
  keyType: string;
  authorities: AuthorityListing[];
  certificates: CertificateListing[];
  /** True when some CA key in the directory is stored in plaintext. */
  unencryptedKeys: boolean;
}

function stateAt(notBefore: Date, notAfter: Date, now: Date): { state: Exclude<CertState, 'revoked'>; daysLeft: number } {
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  if (now < notBefore) return { state: 'not_yet_valid', daysLeft };
  if (now >= notAfter) return { state: 'expired', daysLeft };
  return { state: daysLeft < EXPIRY_WARNING_DAYS ? 'expiring' : 'valid', daysLeft };
}

export function listCa(dir: string, now = new Date()): CaListing {
  const index = readCaIndex(dir);
  const paths = caPaths(dir);
  const keys = caKeyProtection(dir);
  const members: [IssuerRole, string][] = [['root', paths.rootCert], ...(index.intermediate ? [['intermediate', paths.intermediateCert] as [IssuerRole, string]] : [])];
  const authorities = members
    .filter(([, path]) => existsSync(path))
    .map(([role, path]): AuthorityListing => {
      const cert = new x509.X509Certificate(readFileSync(path, 'utf8'));
      return {
        role,
        subject: cert.subject,
        serial: cert.serialNumber.toLowerCase(),
        notBefore: cert.notBefore.toISOString(),
        notAfter: cert.notAfter.toISOString(),
        ...stateAt(cert.notBefore, cert.notAfter, now),
        key: keys.find((k) => k.role === role)?.protection ?? null,
      };
    });
  const certificates = index.certificates.map((e): CertificateListing => {
    const { state, daysLeft } = stateAt(new Date(e.notBefore), new Date(e.notAfter), now);
    return { ...e, state: e.status === 'revoked' ? 'revoked' : state, daysLeft };
  });
  return { dir, keyType: index.keyType, authorities, certificates, unencryptedKeys: keys.some((k) => !k.protection.encrypted) };
}
