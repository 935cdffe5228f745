/**
 * The strict X.509 chain validator: a pure function of (leaf, untrusted intermediates, trust
 * anchors, CRLs, time, purpose, expected name) → the validated path, or a typed failure naming the
 * certificate and the reason. No I/O; the clock is read only when `time` is omitted.
 */
import type { ParsedCert } from './cert.js';
import type { ParsedCrl } from './parsed-crl.js';
import {
  DEFAULT_MAX_CANDIDATES, DEFAULT_MAX_DEPTH, buildPath, indexBySubject, indexCrlsByIssuer, prepareAnchors, type AnchorSet,
} from './path-builder.js';
import { REASON_TEXT, type CertFailure, type CertFailureReason, type Purpose } from './reasons.js';

export type { CertFailure, CertFailureReason, Purpose } from './reasons.js';
export { CERT_FAILURE_REASONS } from './reasons.js';
export { ParsedCert, parseCertificatesPem } from './cert.js';
export { ParsedCrl, parseCrlsPem } from './parsed-crl.js';
export { DEFAULT_MAX_CANDIDATES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_INTERMEDIATES } from './path-builder.js';

export interface VerifyOptions {
  /** Trust anchors, trusted as given (their validity, key and CA constraints are still checked). */
  roots: ParsedCert[];
  /** Untrusted certificates that may help build a path, in any order. */
  intermediates?: ParsedCert[];
  /** When given (even empty), revocation is checked: see crlPolicy. */
  crls?: ParsedCrl[];
  /** Validation time; default now. */
  time?: Date;
  purpose: Purpose;
  /** DNS name or IP literal the leaf must carry as a subjectAltName. */
  hostname?: string;
  /** Longest path, leaf and anchor included (default 8). */
  maxDepth?: number;
  /** Most CA certificates between the leaf and the anchor (`--max-depth`, `maxChainDepth`); overrides maxDepth. */
  maxIntermediates?: number;
  /** Most issuer candidates examined, in total, before giving up with path_too_long (default 64). */
  maxCandidates?: number;
  /**
   * With `crls`: 'leaf' (default) requires a CRL from the leaf's issuer and checks intermediates
   * whose issuer's CRL is present; 'all' requires a CRL for every certificate below the anchor.
   */
  crlPolicy?: 'leaf' | 'all';
}

export type VerifyResult = { ok: true; path: ParsedCert[] } | CertFailure;

/** Verification against anchors prepared once (TrustStore keeps them between calls). */
export function verifyWithAnchors(
  leaf: ParsedCert,
  anchors: AnchorSet,
  options: Omit<VerifyOptions, 'roots'> & { crlsByIssuer?: ReadonlyMap<string, readonly ParsedCrl[]> },
): VerifyResult {
  const crlsByIssuer = options.crlsByIssuer ?? (options.crls ? indexCrlsByIssuer(options.crls) : undefined);
  return buildPath(leaf, {
    anchors,
    intermediates: indexBySubject(options.intermediates ?? [], anchors.fingerprints),
    crlsByIssuer,
    crlPolicy: options.crlPolicy ?? 'leaf',
    time: options.time ?? new Date(),
    purpose: options.purpose,
    hostname: options.hostname,
    maxDepth: options.maxIntermediates !== undefined ? options.maxIntermediates + 2 : (options.maxDepth ?? DEFAULT_MAX_DEPTH),
    maxCandidates: options.maxCandidates ?? DEFAULT_MAX_CANDIDATES,
  });
}

/** Validates `leaf` up to one of `options.roots`. Never throws for a bad certificate: the result says why. */
export function verifyChain(leaf: ParsedCert, options: VerifyOptions): VerifyResult {
  return verifyWithAnchors(leaf, prepareAnchors(options.roots), options);
}

/** Short text of a reason code for the CLI and logs (one table in reasons.ts). */
export function describeReason(reason: CertFailureReason): string {
  return REASON_TEXT[reason];
}
