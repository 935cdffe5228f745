/**
 * The per-certificate and per-link rules of the validator (RFC 5280 §6.1 plus the Web PKI's
 * stricter habits). Each returns a CertFailure or undefined; path-builder.ts decides the order.
 */
import type { ParsedCert } from './cert.js';
import { EKU, KU } from './extensions.js';
import { matchesHostname } from './hostname.js';
import { nameConstraintViolation } from './name-constraints.js';
import type { ParsedCrl } from './parsed-crl.js';
import { failure, type CertFailure, type Purpose } from './reasons.js';

export const PURPOSE_EKU: Record<Exclude<Purpose, 'any'>, string> = {
  server: EKU.serverAuth,
  client: EKU.clientAuth,
};

/** Problems of the certificate on its own, independent of time and position. */
export function intrinsicFailure(cert: ParsedCert, index: number, isAnchor: boolean): CertFailure | undefined {
  if (cert.malformed) return failure('malformed', index, cert.subject, cert.malformed);
  if (cert.version !== 3) return failure('unsupported_version', index, cert.subject, `X.509 v${cert.version}; only v3 is accepted`);
  if (cert.extensions.unknownCritical.length > 0) {
    return failure('unknown_critical_extension', index, cert.subject, `unknown critical extension ${cert.extensions.unknownCritical.join(', ')}`);
  }
  if (cert.keyWeakness) return failure('weak_key', index, cert.subject, cert.keyWeakness);
  // A trust anchor's self-signature is never relied on, so its algorithm does not matter.
  if (!isAnchor && cert.signatureAlgorithm.weakness) return failure('weak_signature', index, cert.subject, cert.signatureAlgorithm.weakness);
  return undefined;
}

export function validityFailure(cert: ParsedCert, index: number, time: Date): CertFailure | undefined {
  if (time < cert.notBefore) return failure('not_yet_valid', index, cert.subject, `not valid before ${cert.notBefore.toISOString()}`);
  if (time > cert.notAfter) return failure('expired', index, cert.subject, `expired at ${cert.notAfter.toISOString()}`);
  return undefined;
}

/** Rules for the end-entity certificate: purpose (EKU), key usage and the expected name. */
export function leafUsageFailure(leaf: ParsedCert, purpose: Purpose, hostname: string | undefined): CertFailure | undefined {
  if (purpose !== 'any') {
    const eku = leaf.extensions.extKeyUsage;
    // Stricter than OpenSSL, which treats a missing EKU as "any": our peers must be issued for the role.
    if (!eku || !eku.includes(PURPOSE_EKU[purpose])) {
      return failure('wrong_purpose', 0, leaf.subject, `extendedKeyUsage does not include ${purpose === 'server' ? 'serverAuth' : 'clientAuth'}`);
    }
  }
  const ku = leaf.extensions.keyUsage;
  // The handshake proves possession with a signature, so digitalSignature is the usage that matters.
  if (ku !== undefined && (ku & KU.digitalSignature) === 0) {
    return failure('bad_key_usage', 0, leaf.subject, 'keyUsage does not include digitalSignature');
  }
  if (hostname !== undefined && !matchesHostname(leaf.subjectAltNames, hostname)) {
    return failure('name_mismatch', 0, leaf.subject, `no subjectAltName matches "${hostname}" (the CN is never used)`);
  }
  return undefined;
}

/** Rules for a certificate acting as an issuer at position `index` above `below` (leaf first). */
export function issuerRoleFailure(issuer: ParsedCert, index: number, below: readonly ParsedCert[], purpose: Purpose): CertFailure | undefined {
  const bc = issuer.extensions.basicConstraints;
  if (!bc?.ca) return failure('not_ca', index, issuer.subject, 'issues certificates but basicConstraints does not say CA:TRUE');
  const ku = issuer.extensions.keyUsage;
  if (ku !== undefined && (ku & KU.keyCertSign) === 0) {
    return failure('bad_key_usage', index, issuer.subject, 'keyUsage of a CA does not include keyCertSign');
  }
  const eku = issuer.extensions.extKeyUsage;
  if (purpose !== 'any' && eku && !eku.includes(PURPOSE_EKU[purpose]) && !eku.includes(EKU.any)) {
    return failure('wrong_purpose', index, issuer.subject, `CA extendedKeyUsage does not allow ${purpose} certificates`);
  }
  if (bc.pathLen !== undefined) {
    // Self-issued intermediates (key rollover) do not count (RFC 5280 §4.2.1.9); the leaf never does.
    const intermediates = below.slice(1).filter((c) => !c.selfIssued).length;
    if (intermediates > bc.pathLen) {
      return failure('path_length_exceeded', index, issuer.subject, `pathLenConstraint ${bc.pathLen} but ${intermediates} intermediate CA(s) below`);
    }
  }
  const constraints = issuer.extensions.nameConstraints;
  if (constraints) {
    for (let j = 0; j < below.length; j++) {
      if (j > 0 && below[j].selfIssued) continue;
      const violation = nameConstraintViolation(below[j], constraints, j === 0);
      if (violation) return failure('name_constraints', j, below[j].subject, `${violation} (constraints of ${issuer.subject})`);
    }
  }
  return undefined;
}

export interface RevocationInput {
  /** CRLs by the canonical key of their issuer name. */
  crlsByIssuer: ReadonlyMap<string, readonly ParsedCrl[]>;
  /** Whether a certificate with no CRL from its issuer fails (`crl_missing`) or passes. */
  required: boolean;
  time: Date;
}

/** Revocation status of `cert` (at `index`) according to the CRLs `issuer` signed. */
export function revocationFailure(cert: ParsedCert, index: number, issuer: ParsedCert, input: RevocationInput): CertFailure | undefined {
  const issuerKeyId = issuer.extensions.subjectKeyId;
  // A CRL from a different CA that happens to share the name (cross-signing, re-keys) is not ours.
  const fromIssuer = (input.crlsByIssuer.get(cert.issuerDn.key) ?? []).filter((crl) => !crl.authorityKeyId || !issuerKeyId || crl.authorityKeyId.equals(issuerKeyId));
  if (fromIssuer.length === 0) {
    return input.required ? failure('crl_missing', index, cert.subject, `no CRL from ${issuer.subject} was supplied`) : undefined;
  }
  const signed = fromIssuer.filter((crl) => crl.isSignedBy(issuer));
  if (signed.length === 0) {
    const algorithm = fromIssuer[0].signatureAlgorithm;
    const why = algorithm.weakness ?? 'its signature does not verify with the issuer key';
    return failure('bad_crl', index, cert.subject, `CRL of ${issuer.subject}: ${why}`);
  }
  const ku = issuer.extensions.keyUsage;
  if (ku !== undefined && (ku & KU.cRLSign) === 0) return failure('bad_crl', index, cert.subject, `${issuer.subject} lacks the cRLSign key usage`);
  const unsupported = signed.find((crl) => crl.unsupportedCritical.length > 0);
  if (unsupported) {
    return failure('bad_crl', index, cert.subject, `CRL of ${issuer.subject} has unsupported critical extension ${unsupported.unsupportedCritical.join(', ')}`);
  }
  // A listed serial is revoked for good, even if the CRL saying so is stale.
  const revoking = signed.find((crl) => crl.isRevoked(cert));
  if (revoking) {
    return failure('revoked', index, cert.subject, `serial ${cert.serialHex} revoked on ${revoking.revoked.get(cert.serialHex)?.toISOString()}`);
  }
  const current = signed.filter((crl) => crl.thisUpdate <= input.time && crl.nextUpdate !== undefined && input.time <= crl.nextUpdate);
  if (current.length > 0) return undefined;
  if (signed.every((crl) => crl.thisUpdate > input.time)) {
    return failure('crl_not_yet_valid', index, cert.subject, `CRL of ${issuer.subject} is not valid before ${signed[0].thisUpdate.toISOString()}`);
  }
  const last = signed.map((crl) => crl.nextUpdate?.toISOString() ?? 'no nextUpdate').join(', ');
  return failure('crl_expired', index, cert.subject, `CRL of ${issuer.subject} is out of date (nextUpdate ${last})`);
}
