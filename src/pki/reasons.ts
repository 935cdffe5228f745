/** Reason codes of the validator: the `reason` of a SecureChatError('bad_certificate'). */

export type Purpose = 'server' | 'client' | 'any';

export type CertFailureReason =
  | 'expired'
  | 'not_yet_valid'
  | 'untrusted'
  | 'revoked'
  | 'wrong_purpose'
  | 'bad_signature'
  | 'name_mismatch'
  | 'weak_key'
  | 'weak_signature'
  | 'not_ca'
  | 'path_length_exceeded'
  | 'bad_key_usage'
  | 'name_constraints'
  | 'unknown_critical_extension'
  | 'malformed'
  | 'bad_crl'
  | 'crl_expired'
  | 'crl_not_yet_valid'
  | 'crl_missing'
  | 'path_too_long'
  | 'unsupported_version';

export const CERT_FAILURE_REASONS: readonly CertFailureReason[] = [
  'expired', 'not_yet_valid', 'untrusted', 'revoked', 'wrong_purpose', 'bad_signature', 'name_mismatch',
  'weak_key', 'weak_signature', 'not_ca', 'path_length_exceeded', 'bad_key_usage', 'name_constraints',
  'unknown_critical_extension', 'malformed', 'bad_crl', 'crl_expired', 'crl_not_yet_valid', 'crl_missing',
  'path_too_long', 'unsupported_version',
];

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
