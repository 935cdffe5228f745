/**
 * Signing a client's CSR against a one-time enrolment token: the authority behind POST /api/enrol
 * (no sockets here). Order of checks, cheapest and least exposed first: the token (a hash lookup)
 * before any ASN.1 of the CSR is parsed, so without a valid token nobody reaches the parser; then
 * the CSR's self-signature, its key type and its CN. The certificate has the `ca issue client`
 * profile (CN = the token's name, EKU clientAuth, no SAN) whatever else the CSR asks for, and is
 * recorded by the same code as `ca issue` (recordIssued), in one locked step with spending the token.
 */
import { SecureChatError } from '../errors.js';
import type { IssuingCa } from './ca-store.js';
import { parseTimeSpec } from './duration.js';
import { checkEnrolToken, spendEnrolToken } from './enrol-tokens.js';
import { BACKDATE_MS, readCsr, recordIssued, signLeaf } from './issue.js';
import { keyTypeOf, type KeyType } from './keys.js';
import { commonName } from './profiles.js';

/** Key types a browser or the CLI makes and the handshake signs with; RSA is left to `ca issue --csr`. */
export const ENROL_KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'ed25519'];

export interface EnrolResult {
  name: string;
  serial: string;
  tokenId: string;
  notAfter: Date;
  certificatePem: string;
  chainPems: string[];
  rootPems: string[];
}

export async function enrolWithToken(ca: IssuingCa, request: { token: string; csrPem: string }, now = new Date()): Promise<EnrolResult> {
  const grant = checkEnrolToken(ca.dir, request.token, now);
  const csr = await readCsr(request.csrPem).catch((err: unknown) => {
    // readCsr calls a missing PEM block bad_input (a CLI file problem); on the wire it is a bad CSR.
    if (err instanceof SecureChatError && err.code === 'bad_input') throw new SecureChatError('bad_csr', 'The "csr" field holds no PEM CERTIFICATE REQUEST block.');
    throw err;
  });
  if (!ENROL_KEY_TYPES.includes(keyTypeOf(csr.key))) {
    throw new SecureChatError('bad_csr', 'The CSR key type is not accepted for enrolment; use an ECDSA P-256 key.');
  }
  if (csr.commonName !== grant.name) {
    throw new SecureChatError('enrol_name_mismatch', `The token is for "${grant.name}" but the CSR asks for CN=${csr.commonName ?? '(none)'}; make the CSR with CN=${grant.name}.`);
  }
  let wanted: Date;
  try {
    wanted = parseTimeSpec(grant.certValidity, now);
  } catch {
    // A --not-after date chosen when the token was made, and passed since.
    throw new SecureChatError('enrol_token_expired', `The certificate this token was made for would already have expired (--not-after ${grant.certValidity}); ask the operator for a new token.`);
  }
  // Never beyond the issuing CA: the certificate is cut short rather than refused.
  const notAfter = wanted > ca.issuer.cert.notAfter ? ca.issuer.cert.notAfter : wanted;
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const subject = commonName(grant.name);
  const signed = await signLeaf(ca, { kind: 'client', subject, sans: [], publicKey: csr.key, notBefore, notAfter });
  // Two requests racing with one token may both get this far; only the first to spend it records
  // its certificate, the other's signature is dropped unseen (enrol_token_used).
  const entry = { serial: signed.serial, kind: 'client' as const, subject, sans: [], notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), enrolToken: grant.id };
  spendEnrolToken(ca.dir, request.token, () => recordIssued(ca, entry, signed.leafPem), now);
  return {
    name: grant.name,
    serial: signed.serial,
    tokenId: grant.id,
    notAfter,
    certificatePem: signed.leafPem,
    chainPems: ca.intermediate ? [ca.intermediate.certPem] : [],
    rootPems: [ca.rootPem],
  };
}
