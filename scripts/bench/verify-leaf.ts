/**
 * Cost of validating a new (never seen) leaf: the validator's per-handshake work when a peer
 * presents a certificate the process has not parsed before, against a TrustStore whose
 * intermediate is already known. The reference line is one bare ECDSA P-256 signature check
 * (node:crypto X509Certificate.verify) of the same leaves.
 *
 *   npx tsx scripts/bench/verify-leaf.ts [--n 1000]
 */
import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ParsedCert } from '../../src/pki/cert.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { GN, makeIntermediate, makeLeaf, makeRoot } from '../../test/helpers/pki-fixtures.js';

const at = process.argv.indexOf('--n');
const n = at > 0 ? Number(process.argv[at + 1]) : 1000;
const root = makeRoot('CN=Bench Root');
const inter = makeIntermediate('CN=Bench Int', root);
const leaves = Array.from({ length: n }, (_, i) => makeLeaf(`CN=u${i}.example.com`, inter, { sans: [GN.dns(`u${i}.example.com`)] }).der);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const interKey = new X509Certificate(inter.der).publicKey;
const signature: number[] = [];
for (const der of leaves) {
  const t0 = performance.now();
  new X509Certificate(der).verify(interKey);
  signature.push(performance.now() - t0);
}

ParsedCert.clearCache();
const trust = new TrustStore({ roots: [ParsedCert.fromDer(root.der)] });
// Warm: the intermediate is parsed and its link to the root checked once, as on a running server.
trust.verifyDer([makeLeaf('CN=warm.example.com', inter, { sans: [GN.dns('warm.example.com')] }).der, inter.der], { purpose: 'server', hostname: 'warm.example.com' });
const validate: number[] = [];
for (const [i, der] of leaves.entries()) {
  const t0 = performance.now();
  trust.verifyDer([der, inter.der], { purpose: 'server', hostname: `u${i}.example.com` });
  validate.push(performance.now() - t0);
}
const sig = median(signature) * 1000;
const full = median(validate) * 1000;
console.log(`new leaves: ${n}`);
console.log(`bare signature check (parse + ECDSA P-256 verify): median ${sig.toFixed(1)} µs`);
console.log(`TrustStore.verifyDer, new leaf, known intermediate: median ${full.toFixed(1)} µs (${(full / sig).toFixed(2)}× the bare check)`);
