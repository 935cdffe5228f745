/**
 * TrustStore: the object the server and the client hold. Roots are parsed and indexed once, CRLs
 * indexed once per reload, and peer chains go through the DER cache of ParsedCert, so a handshake
 * with known intermediates costs the leaf's parse and one signature check.
 */
import { SecureChatError } from '../errors.js';
import { ParsedCert, parseCertificatesPem } from './cert.js';
import { ParsedCrl, parseCrlsPem } from './parsed-crl.js';
import { PathCache } from './path-cache.js';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_INTERMEDIATES, indexCrlsByIssuer, prepareAnchors, type AnchorSet } from './path-builder.js';
import type { Purpose } from './reasons.js';
import { verifyWithAnchors } from './verify.js';

/** A peer may send its root and a spare cross-certificate, but not an unbounded bundle. */
const MAX_CHAIN_LENGTH = 2 * DEFAULT_MAX_DEPTH;

export class TrustStore {
  readonly roots: readonly ParsedCert[];
  private readonly anchors: AnchorSet;
  private crlsByIssuer: Map<string, ParsedCrl[]> | undefined;
  /** Latest thisUpdate and earliest nextUpdate of the CRLs in force: a cached path is used only inside it. */
  private crlWindow: { from: number; until: number } | null = null;
  /** Validated paths by chain (path-cache.ts); cleared with every CRL change. */
  private readonly pathCache: PathCache;
  /** Most intermediate CAs between a peer's certificate and a root (config `maxChainDepth`). */
  readonly maxChainDepth: number;

  constructor(opts: { roots: ParsedCert[]; crls?: ParsedCrl[]; maxChainDepth?: number; pathCacheSize?: number }) {
    if (opts.roots.length === 0) throw new SecureChatError('bad_input', 'A trust store needs at least one root certificate.');
    const depth = opts.maxChainDepth ?? DEFAULT_MAX_INTERMEDIATES;
    if (!Number.isSafeInteger(depth) || depth < 0) throw new SecureChatError('usage', `maxChainDepth must be a non-negative integer, got ${depth}.`);
    this.maxChainDepth = depth;
    this.roots = [...opts.roots];
    this.anchors = prepareAnchors(this.roots);
    this.pathCache = new PathCache(opts.pathCacheSize);
    if (opts.crls) this.setCrls(opts.crls);
  }

  /** Throws SecureChatError('bad_input') when either text holds no valid PEM. */
  static fromPem(rootsPem: string, crlPem?: string, opts: { maxChainDepth?: number } = {}): TrustStore {
    return new TrustStore({ roots: parseCertificatesPem(rootsPem), ...(crlPem !== undefined ? { crls: parseCrlsPem(crlPem) } : {}), ...opts });
  }

  /** Replaces the CRLs (the server calls this when the CRL file changes). */
  setCrls(crls: ParsedCrl[]): void {
    this.crlsByIssuer = indexCrlsByIssuer(crls);
    let from = -Infinity;
    let until = Infinity;
    for (const crl of crls) {
      from = Math.max(from, crl.thisUpdate.getTime());
      // A CRL without nextUpdate never goes stale by time.
      if (crl.nextUpdate) until = Math.min(until, crl.nextUpdate.getTime() + 1);
    }
    this.crlWindow = crls.length > 0 ? { from, until } : null;
    // A revocation (or any CRL change) applies to the next handshake, so every cached path goes.
    this.pathCache.clear();
  }

  /** Paths held by the validated-path cache (for tests and metrics). */
  get cachedPaths(): number {
    return this.pathCache.size;
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
    // An explicit time is a what-if question: answered in full, never from or into the cache.
    const cacheKey = opts.time === undefined ? PathCache.key(chain, opts.purpose, opts.hostname) : undefined;
    const now = Date.now();
    if (cacheKey !== undefined) {
      const hit = this.pathCache.get(cacheKey, now);
      if (hit) return hit;
    }
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
      time: opts.time ?? new Date(now),
    });
    if (!result.ok) throw rejection(result.reason, result.certIndex, result.subject, result.detail);
    if (cacheKey !== undefined) this.pathCache.set(cacheKey, result.path, this.crlsByIssuer ? this.crlWindow : null);
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
