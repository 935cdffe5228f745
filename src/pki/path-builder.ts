/**
 * Path building with backtracking (RFC 4158 in miniature): from the leaf upward, try every
 * plausible issuer (same name, matching key identifiers; trust anchors first, currently-valid
 * certificates first), check each link as it is added, and back out of dead ends. The work is
 * bounded by a depth and a candidate budget so a hostile bundle cannot make it explode. When no path
 * exists, the most specific failure of the attempt that got furthest is reported.
 */
import { serialToHex, type ParsedCert } from './cert.js';
import { anchorFailure, intrinsicFailure, issuerRoleFailure, leafUsageFailure, revocationFailure, validityFailure } from './checks.js';
import { NAME_CONSTRAINT_BUDGET, type ConstraintBudget } from './name-constraints.js';
import type { ParsedCrl } from './parsed-crl.js';
import { policyFailure } from './policies.js';
import { failure, type CertFailure, type Purpose } from './reasons.js';

export const DEFAULT_MAX_DEPTH = 8;
/** The same bound counted as `--max-depth` / `maxChainDepth` count it: CAs between the leaf and the anchor. */
export const DEFAULT_MAX_INTERMEDIATES = DEFAULT_MAX_DEPTH - 2;
export const DEFAULT_MAX_CANDIDATES = 64;

/** Certificates grouped by the canonical key of their subject name. */
export type NameIndex = Map<string, ParsedCert[]>;

export function indexBySubject(certs: Iterable<ParsedCert>, skip?: ReadonlySet<string>): NameIndex {
  const index: NameIndex = new Map();
  const seen = new Set<string>();
  for (const cert of certs) {
    if (seen.has(cert.fingerprint256) || skip?.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    const list = index.get(cert.subjectDn.key);
    if (list) list.push(cert);
    else index.set(cert.subjectDn.key, [cert]);
  }
  return index;
}

export function indexCrlsByIssuer(crls: Iterable<ParsedCrl>): Map<string, ParsedCrl[]> {
  const index = new Map<string, ParsedCrl[]>();
  for (const crl of crls) {
    const list = index.get(crl.issuerDn.key);
    if (list) list.push(crl);
    else index.set(crl.issuerDn.key, [crl]);
  }
  return index;
}

/** The trust anchors in the shape the builder needs; TrustStore prepares this once. */
export interface AnchorSet {
  byName: NameIndex;
  fingerprints: ReadonlySet<string>;
}

export function prepareAnchors(roots: readonly ParsedCert[]): AnchorSet {
  return { byName: indexBySubject(roots), fingerprints: new Set(roots.map((r) => r.fingerprint256)) };
}

export interface BuildContext {
  anchors: AnchorSet;
  intermediates: NameIndex;
  /** undefined: no revocation checking. */
  crlsByIssuer: ReadonlyMap<string, readonly ParsedCrl[]> | undefined;
  /** 'leaf': the leaf must be covered by a CRL, issuers are checked when their issuer's CRL is present; 'all': every certificate must be covered. */
  crlPolicy: 'leaf' | 'all';
  time: Date;
  purpose: Purpose;
  hostname: string | undefined;
  maxDepth: number;
  maxCandidates: number;
}

export type BuildResult = { ok: true; path: ParsedCert[] } | CertFailure;

interface Attempt {
  failure: CertFailure;
  /** How many certificates the attempt had placed when it failed: further is more informative. */
  depth: number;
}

class BudgetExhausted extends Error {}

/** `untrusted` says least (nothing chained), a bad signature usually means "wrong candidate"; anything else is a real finding. */
function specificity(f: CertFailure): number {
  if (f.reason === 'untrusted') return 0;
  if (f.reason === 'bad_signature') return 1;
  return 2;
}

function better(a: Attempt, b: Attempt | undefined): boolean {
  if (!b) return true;
  const sa = specificity(a.failure);
  const sb = specificity(b.failure);
  return sa !== sb ? sa > sb : a.depth > b.depth;
}

function isCurrent(cert: ParsedCert, time: Date): boolean {
  return cert.notBefore <= time && time <= cert.notAfter;
}

function candidatesFor(child: ParsedCert, ctx: BuildContext): ParsedCert[] {
  const akiSerial = child.extensions.authorityCertSerial;
  const wantedSerial = akiSerial ? serialToHex(akiSerial) : undefined;
  const keyMatches = (c: ParsedCert): boolean => {
    const aki = child.extensions.authorityKeyId;
    const ski = c.extensions.subjectKeyId;
    // An AKI naming the issuer's serial (RFC 5280 4.2.1.1) must name this candidate.
    if (wantedSerial !== undefined && c.serialHex !== wantedSerial) return false;
    return !aki || !ski || aki.equals(ski);
  };
  const byValidity = (list: ParsedCert[]): ParsedCert[] => {
    const current = list.filter((c) => isCurrent(c, ctx.time));
    return current.length === list.length ? list : [...current, ...list.filter((c) => !isCurrent(c, ctx.time))];
  };
  const anchors = (ctx.anchors.byName.get(child.issuerDn.key) ?? []).filter(keyMatches);
  const intermediates = (ctx.intermediates.get(child.issuerDn.key) ?? []).filter(keyMatches);
  return [...byValidity(anchors), ...byValidity(intermediates)];
}

/** All checks of adding `issuer` above `path` (whose last element it must have signed). */
function linkFailure(path: readonly ParsedCert[], issuer: ParsedCert, isAnchor: boolean, ctx: BuildContext, budget: ConstraintBudget): CertFailure | undefined {
  const childIndex = path.length - 1;
  const child = path[childIndex];
  const index = path.length;
  // An issuer whose key cannot be used says so, rather than "bad signature".
  if (issuer.publicKey === undefined) return intrinsicFailure(issuer, index, isAnchor);
  if (!child.isSignedBy(issuer)) {
    return failure('bad_signature', childIndex, child.subject, `signature does not verify with the key of ${issuer.subject}`);
  }
  const own =
    intrinsicFailure(issuer, index, isAnchor) ??
    validityFailure(issuer, index, ctx.time) ??
    (isAnchor ? anchorFailure(issuer, index, ctx.purpose) : undefined) ??
    issuerRoleFailure(issuer, index, path, ctx.purpose, budget);
  if (own) return own;
  if (ctx.crlsByIssuer) {
    const required = ctx.crlPolicy === 'all' || childIndex === 0;
    return revocationFailure(child, childIndex, issuer, { crlsByIssuer: ctx.crlsByIssuer, required, time: ctx.time });
  }
  return undefined;
}

interface SearchState {
  candidatesTried: number;
  /** Name-constraint comparisons left for the whole search. */
  budget: ConstraintBudget;
}

function extend(path: ParsedCert[], ctx: BuildContext, state: SearchState): { ok: true; path: ParsedCert[] } | Attempt {
  const top = path[path.length - 1];
  let best: Attempt | undefined;
  const record = (attempt: Attempt): void => {
    if (better(attempt, best)) best = attempt;
  };
  for (const candidate of candidatesFor(top, ctx)) {
    if (path.some((c) => c.fingerprint256 === candidate.fingerprint256)) continue;
    const isAnchor = ctx.anchors.fingerprints.has(candidate.fingerprint256);
    const index = path.length;
    // A non-anchor candidate still needs something above it.
    if (path.length + (isAnchor ? 1 : 2) > ctx.maxDepth) {
      record({ failure: failure('path_too_long', index, candidate.subject, `no trusted path with at most ${ctx.maxDepth - 2} intermediate CA(s) (${ctx.maxDepth} certificates)`), depth: index + 1 });
      continue;
    }
    if (++state.candidatesTried > ctx.maxCandidates) throw new BudgetExhausted();
    const linkProblem = linkFailure(path, candidate, isAnchor, ctx, state.budget);
    if (linkProblem) {
      record({ failure: linkProblem, depth: index + 1 });
      continue;
    }
    const next = [...path, candidate];
    if (isAnchor) {
      // Policies are a property of the whole path (RFC 5280 6.1), so they are checked once it reaches an anchor.
      const policy = policyFailure(next);
      if (!policy) return { ok: true, path: next };
      record({ failure: policy, depth: next.length });
      continue;
    }
    const result = extend(next, ctx, state);
    if ('ok' in result) return result;
    record(result);
  }
  return best ?? { failure: failure('untrusted', path.length - 1, top.subject, `no trusted issuer "${top.issuer}" found`), depth: path.length };
}

export function buildPath(leaf: ParsedCert, ctx: BuildContext): BuildResult {
  const leafIsAnchor = ctx.anchors.fingerprints.has(leaf.fingerprint256);
  const leafProblem =
    intrinsicFailure(leaf, 0, leafIsAnchor) ?? validityFailure(leaf, 0, ctx.time) ?? leafUsageFailure(leaf, ctx.purpose, ctx.hostname);
  if (leafProblem) return leafProblem;
  if (leafIsAnchor) return { ok: true, path: [leaf] };
  const state: SearchState = { candidatesTried: 0, budget: { remaining: NAME_CONSTRAINT_BUDGET } };
  try {
    const result = extend([leaf], ctx, state);
    return 'ok' in result ? result : result.failure;
  } catch (err) {
    if (!(err instanceof BudgetExhausted)) throw err;
    return failure('path_too_long', -1, leaf.subject, `gave up after ${ctx.maxCandidates} candidate issuers`);
  }
}
