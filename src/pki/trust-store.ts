/**
 * TrustStore: the object the server and the client hold. Roots are parsed and indexed once, CRLs
 * indexed once per reload, and peer chains go through the DER cache of ParsedCert, so a handshake
 * with known intermediates costs the leaf's parse and one signature check.
 */
import { SecureChatError } from '../errors.js';
import { ParsedCert, parseCertificatesPem } from './cert.js';
import { ParsedCrl, parseCrlsPem } from './parsed-crl.js';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_INTERMEDIATES, indexCrlsByIssuer, prepareAnchors, type AnchorSet } from './path-builder.js';
import type { Purpose } from './reasons.js';
import { verifyWithAnchors } from './verify.js';

/** A peer may send its root and a spare cross-certificate, but not an unbounded bundle. */
const MAX_CHAIN_LENGTH = 2 * DEFAULT_MAX_DEPTH;

export class TrustStore {
  readonly roots: readonly ParsedCert[];
  private readonly anchors: AnchorSet;
  private crlsByIssuer: Map<string, ParsedCrl[]> | undefined;
  /** Most intermediate CAs between a peer's certificate and a root (config `maxChainDepth`). */
  readonly maxChainDepth: number;

  constructor(opts: { roots: ParsedCert[]; crls?: ParsedCrl[]; maxChainDepth?: number }) {
    if (opts.roots.length === 0) throw new SecureChatError('bad_input', 'A trust store needs at least one root certificate.');
    const depth = opts.maxChainDepth ?? DEFAULT_MAX_INTERMEDIATES;
    if (!Number.isSafeInteger(depth) || depth < 0) throw new SecureChatError('usage', `maxChainDepth must be a non-negative integer, got ${depth}.`);
    this.maxChainDepth = depth;
    this.roots = [...opts.roots];
    this.anchors = prepareAnchors(this.roots);
    this.crlsByIssuer = opts.crls ? indexCrlsByIssuer(opts.crls) : undefined;
  }

  /** Throws SecureChatError('bad_input') when either text holds no valid PEM. */
  static fromPem(rootsPem: string, crlPem?: string, opts: { maxChainDepth?: number } = {}): TrustStore {
    return new TrustStore({ roots: parseCertificatesPem(rootsPem), ...(crlPem !== undefined ? { crls: parseCrlsPem(crlPem) } : {}), ...opts });
  }

  /** Replaces the CRLs (the server calls this when the CRL file changes). */
  setCrls(crls: ParsedCrl[]): void {
    this.crlsByIssuer = indexCrlsByIssuer(crls);
  }

  /**
   * Validates a chain as received (DER, leaf first, then untrusted intermediates in any order) and
   * returns the path, leaf first, anchor last. Throws SecureChatError('bad_certificate', message,
   * { reason, details: { certIndex, subject } }) on failure.
   */
  verifyDer(chain: Buffer[], opts: { purpose: Purpose; hostname?: string; time?: Date }): ParsedCert[] {
    if (chain.length === 0) throw rejection('malformed', -1, '', 'the peer sent no certificate');
    const maxLength = Math.max(MAX_CHAIN_LENGTH, 2 * (this.maxChainDepth + 2));
    if (chain.length > maxLength) throw rejection('path_too_long', -1, '', `${chain.length} certificates sent (maximum ${maxLength})`);
    const certs = chain.map((der, i) => {
      try {
        return ParsedCert.fromDer(der);
      } catch (err) {
        throw rejection('malformed', i, '', 'not a DER X.509 certificate', err);
      }
    });
    const result = verifyWithAnchors(certs[0], this.anchors, {
      intermediates: certs.slice(1),
      ...(this.crlsByIssuer ? { crlsByIssuer: this.crlsByIssuer } : {}),
      purpose: opts.purpose,
      maxIntermediates: this.maxChainDepth,
      ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
      ...(opts.time !== undefined ? { time: opts.time } : {}),
    });
    if (!result.ok) throw rejection(result.reason, result.certIndex, result.subject, result.detail);
    return result.path;
  }
}

function rejection(reason: string, certIndex: number, subject: string, detail: string, cause?: unknown): SecureChatError {
  const where = certIndex >= 0 ? `certificate ${certIndex}${subject ? ` (${subject})` : ''}: ` : '';
  return new SecureChatError('bad_certificate', `Certificate validation failed (${reason}): ${where}${detail}.`, {
    reason,
    details: { certIndex, subject },
    ...(cause !== undefined ? { cause } : {}),
  });
}
