/** Reason codes of the validator: the `reason` of a SecureChatError('bad_certificate'). */

export type Purpose = 'server' | 'client' | 'any';

/**
 * Every reason with the short text the CLI and logs print. One table, so the type, the list and the
 * descriptions cannot drift (docs/ERRORS.md lists the same codes; a test guards it).
 */
export const REASON_TEXT = {
  expired: 'certificate expired',
  not_yet_valid: 'certificate not yet valid',
  untrusted: 'no path to a trusted root',
  revoked: 'certificate revoked',
  wrong_purpose: 'certificate not issued for this purpose',
  bad_signature: 'signature does not verify',
  name_mismatch: 'host name does not match',
  weak_key: 'key too weak',
  weak_signature: 'signature algorithm too weak',
  not_ca: 'issuer is not a CA',
  path_length_exceeded: 'path length constraint exceeded',
  bad_key_usage: 'key usage does not allow this use',
  name_constraints: 'name constraints violated',
  unknown_critical_extension: 'unknown critical extension',
  malformed: 'malformed certificate',
  bad_crl: 'CRL invalid',
  crl_expired: 'CRL out of date',
  crl_not_yet_valid: 'CRL not yet valid',
  crl_missing: 'no CRL for this certificate',
  path_too_long: 'path too long or too many candidates',
  unsupported_version: 'unsupported X.509 version',
  // Key identifiers (RFC 5280 4.2.1.1/4.2.1.2, CABF BR 7.1.2)
  missing_authority_key_id: 'authorityKeyIdentifier with a keyIdentifier missing',
  authority_key_id_critical: 'authorityKeyIdentifier marked critical',
  missing_subject_key_id: 'CA certificate without subjectKeyIdentifier',
  subject_key_id_critical: 'subjectKeyIdentifier marked critical',
  bad_authority_key_id: 'CA authorityKeyIdentifier names an issuer and serial (CABF BR 7.1.2.11.1)',
  bad_anchor_authority_key_id: 'trust anchor authorityKeyIdentifier is not its own keyIdentifier',
  // Criticality and placement of extensions
  basic_constraints_not_critical: 'basicConstraints of a CA not marked critical',
  name_constraints_on_leaf: 'nameConstraints on a certificate that is not a CA',
  name_constraints_not_critical: 'nameConstraints not marked critical',
  key_cert_sign_without_ca: 'keyCertSign without basicConstraints cA=TRUE',
  leaf_is_ca: 'end-entity certificate asserts cA=TRUE',
  leaf_path_length: 'pathLenConstraint on a certificate that is not a CA',
  san_criticality: 'subjectAltName criticality does not fit the subject',
  eku_critical: 'extendedKeyUsage of an end-entity marked critical',
  eku_any_on_leaf: 'anyExtendedKeyUsage in an end-entity certificate',
  eku_not_allowed: 'extendedKeyUsage purpose a TLS server certificate must not carry',
  anchor_eku: 'root certificate carries extendedKeyUsage',
  bad_authority_info_access: 'authorityInfoAccess critical or malformed',
  // Certificate policies (RFC 5280 6.1)
  bad_policy: 'certificate policy extension malformed or not allowed',
  policy_violation: 'no acceptable certificate policy where one is required',
  // Names
  ca_empty_subject: 'CA certificate with an empty subject',
  missing_san: 'server certificate without subjectAltName',
  bad_dns_name: 'dNSName is not valid preferred name syntax',
  bad_ip_address: 'iPAddress is neither 4 nor 16 octets',
  bad_email_address: 'rfc822Name or emailAddress is not a single mailbox',
  wildcard_public_suffix: 'wildcard directly on a public suffix',
  cn_not_in_san: 'commonName is not a copy of a subjectAltName',
  bad_name_constraint: 'name constraint that cannot be evaluated safely',
  name_constraints_too_complex: 'name constraint check over its work bound',
  // Keys and encodings
  bad_public_key: 'public key cannot be parsed',
  explicit_curve_params: 'EC key with explicit curve parameters',
  rsa_modulus_not_whole_bytes: 'RSA modulus not a whole number of bytes',
  bad_serial: 'serial number not positive, zero, over 20 octets or not minimal',
  duplicate_extension: 'extension appears more than once',
  empty_san: 'subjectAltName with no names',
  bad_time_encoding: 'validity time not encoded as RFC 5280 requires',
  signature_algorithm_mismatch: 'inner and outer signature algorithms differ',
  bad_algorithm_parameters: 'algorithm parameters not encoded as the algorithm requires',
  unique_id_present: 'issuerUniqueID or subjectUniqueID present',
  // CRLs
  crl_number_missing: 'CRL without a CRL number',
  crl_number_critical: 'CRL number extension marked critical',
  crl_unsupported_critical: 'CRL with an unsupported critical extension',
} as const satisfies Record<string, string>;

export type CertFailureReason = keyof typeof REASON_TEXT;

export const CERT_FAILURE_REASONS: readonly CertFailureReason[] = Object.keys(REASON_TEXT) as CertFailureReason[];

/** A failed check: which certificate (0 = leaf, -1 = not about one certificate), why, and a human detail. */
export interface CertFailure {
  ok: false;
  reason: CertFailureReason;
  certIndex: number;
  subject: string;
  detail: string;
}

export function failure(reason: CertFailureReason, certIndex: number, subject: string, detail: string): CertFailure {
  return { ok: false, reason, certIndex, subject, detail };
}

/** A problem of one certificate found before its position in a path is known. */
export interface CertProblem {
  reason: CertFailureReason;
  detail: string;
}
