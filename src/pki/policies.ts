/**
 * Certificate policy processing of RFC 5280 §6.1 (steps 6.1.3 d-f, 6.1.4 a-b and h-j, 6.1.5 a-b and
 * g) for the inputs every SecureChat peer uses: user-initial-policy-set = {anyPolicy} and all three
 * initial-* flags false. The valid_policy_tree is kept as a graph (one node per policy and depth,
 * RFC 9618), which has the same non-emptiness as the tree but cannot grow exponentially through
 * mappings; with anyPolicy as the initial set, the path is acceptable iff explicit_policy > 0 or
 * the graph still has nodes at the leaf's depth.
 */
import type { ParsedCert } from './cert.js';
import { ANY_POLICY } from './extensions.js';
import { failure, type CertFailure } from './reasons.js';

/** Policy nodes allowed at one depth; a hostile bundle gets bad_policy, not a slow path. */
const MAX_NODES_PER_DEPTH = 256;

interface PolicyNode {
  expected: Set<string>;
}

type Level = Map<string, PolicyNode>;

/** Path leaf first, anchor last (the anchor's own extensions are not processed, as in §6.1). */
export function policyFailure(path: readonly ParsedCert[]): CertFailure | undefined {
  const n = path.length - 1;
  let explicitPolicy = n + 1;
  let inhibitAnyPolicy = n + 1;
  let policyMapping = n + 1;
  let level: Level | undefined = new Map([[ANY_POLICY, { expected: new Set([ANY_POLICY]) }]]);
  for (let i = 1; i <= n; i++) {
    const index = n - i;
    const cert = path[index];
    const ext = cert.extensions;
    const isLeaf = i === n;
    const policies = ext.certificatePolicies;
    if (level && policies) {
      const next: Level = new Map();
      // 6.1.3 (d)(1): each policy attaches below the nodes expecting it, else below anyPolicy.
      for (const policy of policies) {
        if (policy === ANY_POLICY) continue;
        const expecting = [...level.values()].some((node) => node.expected.has(policy));
        if (expecting || level.has(ANY_POLICY)) next.set(policy, { expected: new Set([policy]) });
      }
      // 6.1.3 (d)(2): anyPolicy, unless inhibited, carries every expected policy not yet present.
      if (policies.includes(ANY_POLICY) && (inhibitAnyPolicy > 0 || (!isLeaf && cert.selfIssued))) {
        for (const [policy, node] of level) {
          for (const expected of node.expected) if (!next.has(expected)) next.set(expected, { expected: new Set([expected]) });
          if (policy === ANY_POLICY && !next.has(ANY_POLICY)) next.set(ANY_POLICY, { expected: new Set([ANY_POLICY]) });
        }
      }
      if (next.size > MAX_NODES_PER_DEPTH) return failure('bad_policy', index, cert.subject, `more than ${MAX_NODES_PER_DEPTH} policies at one depth`);
      // 6.1.3 (d)(3): pruning childless nodes leaves the graph empty exactly when this depth is empty.
      level = next.size > 0 ? next : undefined;
    } else {
      // 6.1.3 (e): no certificatePolicies, no tree.
      level = undefined;
    }
    if (!isLeaf) {
      const mappings = ext.policyMappings ?? [];
      // 6.1.4 (a): anyPolicy is never mapped to or from.
      if (mappings.some(([from, to]) => from === ANY_POLICY || to === ANY_POLICY)) {
        return failure('bad_policy', index, cert.subject, 'policyMappings maps to or from anyPolicy');
      }
      if (level && mappings.length > 0) level = applyMappings(level, mappings, policyMapping > 0);
      if (level && level.size > MAX_NODES_PER_DEPTH) return failure('bad_policy', index, cert.subject, `more than ${MAX_NODES_PER_DEPTH} mapped policies`);
      // 6.1.4 (h)
      if (!cert.selfIssued) {
        if (explicitPolicy > 0) explicitPolicy--;
        if (policyMapping > 0) policyMapping--;
        if (inhibitAnyPolicy > 0) inhibitAnyPolicy--;
      }
      // 6.1.4 (i), (j)
      const constraints = ext.policyConstraints;
      if (constraints?.requireExplicitPolicy !== undefined) explicitPolicy = Math.min(explicitPolicy, constraints.requireExplicitPolicy);
      if (constraints?.inhibitPolicyMapping !== undefined) policyMapping = Math.min(policyMapping, constraints.inhibitPolicyMapping);
      if (ext.inhibitAnyPolicy !== undefined) inhibitAnyPolicy = Math.min(inhibitAnyPolicy, ext.inhibitAnyPolicy);
    } else {
      // 6.1.5 (a), (b)
      if (explicitPolicy > 0) explicitPolicy--;
      if (ext.policyConstraints?.requireExplicitPolicy === 0) explicitPolicy = 0;
    }
    // 6.1.3 (f)
    if (explicitPolicy === 0 && !level) {
      return failure('policy_violation', index, cert.subject, 'an explicit certificate policy is required here, and no policy is valid for the path');
    }
  }
  return undefined;
}

/** 6.1.4 (b): rewrite the expected policies of mapped nodes, or delete them when mapping is inhibited. */
function applyMappings(level: Level, mappings: readonly [string, string][], allowed: boolean): Level | undefined {
  const targets = new Map<string, Set<string>>();
  for (const [from, to] of mappings) {
    const set = targets.get(from) ?? new Set<string>();
    set.add(to);
    targets.set(from, set);
  }
  const out: Level = new Map(level);
  for (const [from, to] of targets) {
    if (!allowed) {
      out.delete(from);
      continue;
    }
    const node = out.get(from);
    if (node) node.expected = to;
    // A mapped policy the CA only asserted through anyPolicy gets a node of its own.
    else if (level.has(ANY_POLICY)) out.set(from, { expected: to });
  }
  return out.size > 0 ? out : undefined;
}
