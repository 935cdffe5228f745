/**
 * The per-certificate and per-link rules of the validator (RFC 5280 §6.1 plus the CA/Browser
 * Forum profile where it is stricter). Each returns a CertFailure or undefined; path-builder.ts
 * decides the order. Every rule has its own reason code (reasons.ts).
 */
import type { ParsedCert } from './cert.js';
import { canonicalIpText, mailboxProblem, sanDnsNameProblem, wildcardOnPublicSuffix } from './dns-syntax.js';
import { EKU, EKU_NOT_WITH_SERVER_AUTH, KU, OID } from './extensions.js';
import { matchesHostname } from './hostname.js';
import { nameConstraintViolation, nameConstraintsProblem, type ConstraintBudget } from './name-constraints.js';
import type { ParsedCrl } from './parsed-crl.js';
import { failure, type CertFailure, type Purpose } from './reasons.js';

export const PURPOSE_EKU: Record<Exclude<Purpose, 'any'>, string> = {
  server: EKU.serverAuth,
  client: EKU.clientAuth,
};

/** Problems of the certificate on its own, independent of time and position. */
export function intrinsicFailure(cert: ParsedCert, index: number, isAnchor: boolean): CertFailure | undefined {
  const fail = (reason: Parameters<typeof failure>[0], detail: string): CertFailure => failure(reason, index, cert.subject, detail);
  if (cert.problem) return fail(cert.problem.reason, cert.problem.detail);
  if (cert.version !== 3) return fail('unsupported_version', `X.509 v${cert.version}; only v3 is accepted`);
  const ext = cert.extensions;
  if (ext.unknownCritical.length > 0) return fail('unknown_critical_extension', `unknown critical extension ${ext.unknownCritical.join(', ')}`);
  if (cert.keyWeakness) return fail('weak_key', cert.keyWeakness);
  // A trust anchor's self-signature is never relied on, so its algorithm does not matter.
  if (!isAnchor && cert.signatureAlgorithm.weakness) return fail('weak_signature', cert.signatureAlgorithm.weakness);

  // A mailbox with two "@" would be compared with e-mail constraints by its last domain only.
  for (const mailbox of [...cert.subjectAltNames.flatMap((n) => (n.type === 'email' ? [n.value] : [])), ...cert.subjectDn.emails]) {
    const why = mailboxProblem(mailbox);
    if (why) return fail('bad_email_address', `e-mail address "${mailbox}": ${why}`);
  }
  for (const name of cert.subjectAltNames) {
    if (name.type !== 'dns') continue;
    const why = sanDnsNameProblem(name.value);
    if (why) return fail('bad_dns_name', `subjectAltName dNSName "${name.value}": ${why}`);
    if (wildcardOnPublicSuffix(name.value)) return fail('wildcard_public_suffix', `subjectAltName "${name.value}" is a wildcard on the public suffix "${name.value.slice(2)}"`);
  }
  const isCa = ext.basicConstraints?.ca === true;
  if (ext.nameConstraints) {
    if (!isCa) return fail('name_constraints_on_leaf', 'nameConstraints on a certificate without cA=TRUE (RFC 5280 4.2.1.10: CA certificates only)');
    if (!ext.critical.get(OID.nameConstraints)) return fail('name_constraints_not_critical', 'nameConstraints MUST be critical (RFC 5280 4.2.1.10)');
    const bad = nameConstraintsProblem(ext.nameConstraints);
    if (bad) return fail(bad.reason, bad.detail);
  }
  if (ext.critical.get(OID.authorityKeyId)) return fail('authority_key_id_critical', 'authorityKeyIdentifier MUST be non-critical (RFC 5280 4.2.1.1)');
  if (ext.critical.get(OID.subjectKeyId)) return fail('subject_key_id_critical', 'subjectKeyIdentifier MUST be non-critical (RFC 5280 4.2.1.2)');
  if (ext.keyUsage !== undefined && (ext.keyUsage & KU.keyCertSign) !== 0 && !isCa) {
    return fail('key_cert_sign_without_ca', 'keyUsage keyCertSign without basicConstraints cA=TRUE (RFC 5280 4.2.1.3)');
  }
  if (ext.basicConstraints && !isCa && ext.basicConstraints.pathLen !== undefined) {
    return fail('leaf_path_length', 'pathLenConstraint without cA=TRUE (RFC 5280 4.2.1.9)');
  }
  if (isCa) {
    if (!ext.critical.get(OID.basicConstraints)) return fail('basic_constraints_not_critical', 'basicConstraints of a CA MUST be critical (RFC 5280 4.2.1.9)');
    if (!ext.subjectKeyId) return fail('missing_subject_key_id', 'a CA certificate MUST carry subjectKeyIdentifier (RFC 5280 4.2.1.2)');
    if (cert.subjectDn.rdns.length === 0) return fail('ca_empty_subject', 'a CA certificate MUST have a non-empty subject (RFC 5280 4.1.2.6)');
    if (ext.authorityCertIssuer && !(isAnchor && cert.selfIssued)) {
      return fail('bad_authority_key_id', 'authorityKeyIdentifier of a CA holds authorityCertIssuer/authorityCertSerialNumber (CABF BR 7.1.2.11.1)');
    }
  }
  if (!cert.selfIssued && !ext.authorityKeyId) {
    return fail('missing_authority_key_id', 'no authorityKeyIdentifier keyIdentifier on a certificate that is not self-issued (RFC 5280 4.2.1.1)');
  }
  if (isAnchor && cert.selfIssued && ext.critical.has(OID.authorityKeyId)) {
    // CABF BR 7.1.2.1.3: a root's AKI, if any, is its own key identifier and nothing else.
    if (ext.authorityCertIssuer || !ext.authorityKeyId) return fail('bad_anchor_authority_key_id', 'a trust anchor authorityKeyIdentifier may hold only a keyIdentifier');
    if (!ext.subjectKeyId || !ext.authorityKeyId.equals(ext.subjectKeyId)) {
      return fail('bad_anchor_authority_key_id', 'the trust anchor authorityKeyIdentifier differs from its subjectKeyIdentifier');
    }
  }
  return undefined;
}

export function validityFailure(cert: ParsedCert, index: number, time: Date): CertFailure | undefined {
  if (Number.isNaN(cert.notBefore.getTime()) || Number.isNaN(cert.notAfter.getTime())) return failure('bad_time_encoding', index, cert.subject, 'unreadable validity time');
  if (time < cert.notBefore) return failure('not_yet_valid', index, cert.subject, `not valid before ${cert.notBefore.toISOString()}`);
  if (time > cert.notAfter) return failure('expired', index, cert.subject, `expired at ${cert.notAfter.toISOString()}`);
  return undefined;
}

/** CABF BR 7.1.4.3: each CN of a server certificate repeats one SAN entry exactly (same case, canonical IP text). */
function cnProblem(leaf: ParsedCert): string | undefined {
  const texts = new Set<string>();
  for (const name of leaf.subjectAltNames) {
    if (name.type === 'dns') texts.add(name.value);
    if (name.type === 'ip') {
      const text = canonicalIpText(name.bytes);
      if (text) texts.add(text);
    }
  }
  const stray = leaf.subjectDn.commonNames.find((cn) => !texts.has(cn));
  return stray === undefined ? undefined : `commonName "${stray}" is not byte for byte one of the subjectAltName entries`;
}

/** Rules for the end-entity certificate: role, purpose (EKU), key usage, names and the expected name. */
export function leafUsageFailure(leaf: ParsedCert, purpose: Purpose, hostname: string | undefined): CertFailure | undefined {
  const fail = (reason: Parameters<typeof failure>[0], detail: string): CertFailure => failure(reason, 0, leaf.subject, detail);
  const ext = leaf.extensions;
  if (purpose !== 'any' && ext.basicConstraints?.ca) return fail('leaf_is_ca', 'a CA certificate (cA=TRUE) cannot be a peer certificate');
  const eku = ext.extKeyUsage;
  if (eku) {
    if (ext.critical.get(OID.extKeyUsage)) return fail('eku_critical', 'extendedKeyUsage of an end-entity MUST NOT be critical (CABF BR 7.1.2.7.10)');
    if (eku.includes(EKU.any)) return fail('eku_any_on_leaf', 'anyExtendedKeyUsage MUST NOT appear in an end-entity certificate (CABF BR 7.1.2.7.10)');
    const forbidden = purpose === 'server' ? eku.find((oid) => EKU_NOT_WITH_SERVER_AUTH[oid] !== undefined) : undefined;
    if (forbidden) return fail('eku_not_allowed', `extendedKeyUsage ${EKU_NOT_WITH_SERVER_AUTH[forbidden]} MUST NOT appear in a TLS server certificate (CABF BR 7.1.2.7.10)`);
  }
  if (purpose !== 'any') {
    // Stricter than OpenSSL, which treats a missing EKU as "any": our peers must be issued for the role.
    if (!eku || !eku.includes(PURPOSE_EKU[purpose])) {
      return fail('wrong_purpose', `extendedKeyUsage does not include ${purpose === 'server' ? 'serverAuth' : 'clientAuth'}`);
    }
  }
  const ku = ext.keyUsage;
  // The handshake proves possession with a signature, so digitalSignature is the usage that matters.
  if (ku !== undefined && (ku & KU.digitalSignature) === 0) return fail('bad_key_usage', 'keyUsage does not include digitalSignature');
  if (ext.critical.has(OID.subjectAltName)) {
    const emptySubject = leaf.subjectDn.rdns.length === 0;
    const critical = ext.critical.get(OID.subjectAltName) === true;
    if (emptySubject && !critical) return fail('san_criticality', 'subjectAltName MUST be critical when the subject is empty (RFC 5280 4.2.1.6)');
    if (!emptySubject && critical) return fail('san_criticality', 'subjectAltName MUST NOT be critical when the subject is not empty (CABF BR 7.1.2.7.12)');
  }
  if (purpose === 'server') {
    if (!ext.subjectAltName) return fail('missing_san', 'a server certificate MUST carry subjectAltName (CABF BR 7.1.2.7.12)');
    const cn = cnProblem(leaf);
    if (cn) return fail('cn_not_in_san', cn);
  }
  if (hostname !== undefined && !matchesHostname(leaf.subjectAltNames, hostname)) {
    return fail('name_mismatch', `no subjectAltName matches "${hostname}" (the CN is never used)`);
  }
  return undefined;
}

/**
 * Rules for the root a path ends in. CABF BR 7.1.2.1.2: a root CA certificate MUST NOT carry
 * extendedKeyUsage; under the web profile such a root is refused for the server and client purposes
 * instead of being read as a constraint (RFC 5280 gives a CA EKU no meaning at all). A trust anchor
 * that is not self-issued (an intermediate configured as an anchor) may carry one; it constrains the
 * purpose as any CA EKU does (issuerRoleFailure).
 */
export function anchorFailure(anchor: ParsedCert, index: number, purpose: Purpose): CertFailure | undefined {
  if (purpose !== 'any' && anchor.selfIssued && anchor.extensions.extKeyUsage) {
    return failure('anchor_eku', index, anchor.subject, 'a root certificate MUST NOT carry extendedKeyUsage (CABF BR 7.1.2.1.2)');
  }
  return undefined;
}

/** Rules for a certificate acting as an issuer at position `index` above `below` (leaf first). */
export function issuerRoleFailure(
  issuer: ParsedCert,
  index: number,
  below: readonly ParsedCert[],
  purpose: Purpose,
  budget: ConstraintBudget,
): CertFailure | undefined {
  const bc = issuer.extensions.basicConstraints;
  if (!bc?.ca) return failure('not_ca', index, issuer.subject, 'issues certificates but basicConstraints does not say CA:TRUE');
  const ku = issuer.extensions.keyUsage;
  // Stricter than RFC 5280 (which lets a CA omit keyUsage): CABF requires it, with keyCertSign.
  if (ku === undefined || (ku & KU.keyCertSign) === 0) {
    return failure('bad_key_usage', index, issuer.subject, ku === undefined ? 'a CA without keyUsage (keyCertSign required)' : 'keyUsage of a CA does not include keyCertSign');
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
      // Self-issued intermediates are exempt (RFC 5280 6.1.4 (b)), but never the leaf.
      if (j > 0 && below[j].selfIssued) continue;
      const violation = nameConstraintViolation(below[j], constraints, j === 0, budget);
      if (violation) return failure(violation.reason, j, below[j].subject, `${violation.detail} (constraints of ${issuer.subject})`);
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
  for (const crl of signed) {
    if (crl.problem) return failure(crl.problem.reason, index, cert.subject, `CRL of ${issuer.subject}: ${crl.problem.detail}`);
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
