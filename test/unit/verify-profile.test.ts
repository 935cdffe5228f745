/**
 * The RFC 5280 + CA/Browser Forum profile of the validator, one scenario per rule of issue 11.
 * Every scenario builds the offending certificate itself, checks the reason code and the index of
 * the certificate verifyChain names, then runs the same files through `openssl verify -x509_strict`:
 * `openssl: 'agrees'` asserts OpenSSL reaches the same verdict; `openssl: { stricter }` asserts that
 * OpenSSL accepts what we refuse, and says why we are stricter (the web profile, or a rule OpenSSL
 * does not have).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { verifyChain, type CertFailureReason, type ParsedCrl, type VerifyOptions } from '../../src/pki/verify.js';
import {
  D, EKU_ANY, EKU_CLIENT, EKU_SERVER, GN, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, P, POLICY, TBS, X,
  crlNumber, derEncode, derParse, ecKey, issue, makeCrl, makeIntermediate, makeLeaf, makeRoot, opensslVerify, rsaKey, serialOf,
  type DerNode, type Fixture,
} from '../helpers/pki-fixtures.js';

/** 'agrees': same verdict; stricter: OpenSSL accepts what we refuse; opensslRefuses: OpenSSL refuses what we accept. */
type OpensslVerdict = 'agrees' | { stricter: string } | { opensslRefuses: string };

interface Scenario {
  leaf: Fixture;
  roots?: Fixture[];
  intermediates?: Fixture[];
  crls?: { pem: string; crl: ParsedCrl }[];
  options?: Partial<Omit<VerifyOptions, 'roots' | 'intermediates' | 'crls'>>;
  expect: 'ok' | CertFailureReason;
  certIndex?: number;
  openssl: OpensslVerdict;
  opensslArgs?: string[];
}

let dir: string;
let root: Fixture;
let inter: Fixture;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'verify-profile-'));
  root = makeRoot('CN=Profile Root,O=SecureChat');
  inter = makeIntermediate('CN=Profile Int,O=SecureChat', root);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function check(s: Scenario): Promise<void> {
  const roots = s.roots ?? [root];
  const intermediates = s.intermediates ?? [inter];
  const options = { purpose: 'server' as const, ...s.options };
  const result = verifyChain(s.leaf.cert, {
    roots: roots.map((r) => r.cert),
    intermediates: intermediates.map((c) => c.cert),
    ...(s.crls ? { crls: s.crls.map((c) => c.crl) } : {}),
    ...options,
  });
  if (s.expect === 'ok') {
    assert.ok(result.ok, `expected a valid path, got ${JSON.stringify(result)}`);
  } else {
    assert.ok(!result.ok, `expected ${s.expect}, got a valid path`);
    assert.equal(result.reason, s.expect, result.detail);
    if (s.certIndex !== undefined) assert.equal(result.certIndex, s.certIndex, result.detail);
    assert.ok(result.detail.length > 0);
  }
  const host = options.hostname;
  const ossl = await opensslVerify(dir, {
    roots,
    untrusted: intermediates,
    leaf: s.leaf,
    ...(s.crls ? { crls: s.crls, crlCheckAll: options.crlPolicy === 'all' } : {}),
    ...(options.time ? { at: options.time } : {}),
    purpose: options.purpose,
    ...(host ? (/^[\d.:]+$/.test(host) ? { ip: host } : { hostname: host }) : {}),
    ...(s.opensslArgs ? { extraArgs: s.opensslArgs } : {}),
  });
  if (s.openssl === 'agrees') {
    assert.equal(ossl.ok, s.expect === 'ok', `openssl disagrees (expected ${s.expect}): ${ossl.output}`);
  } else if ('opensslRefuses' in s.openssl) {
    assert.equal(s.expect, 'ok');
    assert.equal(ossl.ok, false, `marked as refused by OpenSSL (${s.openssl.opensslRefuses}), but OpenSSL accepts: ${ossl.output}`);
  } else {
    assert.equal(ossl.ok, true, `marked stricter than OpenSSL (${s.openssl.stricter}), but OpenSSL refuses too: ${ossl.output}`);
  }
}

/** A server leaf under `issuer` whose CN is its first SAN (the profile's default shape). */
function serverLeaf(issuer: Fixture, opts: Parameters<typeof makeLeaf>[2] = {}): Fixture {
  return makeLeaf('CN=localhost', issuer, { eku: [EKU_SERVER], sans: [GN.dns('localhost')], ...opts });
}

const leafWith = (opts: Parameters<typeof makeLeaf>[2]): Fixture => makeLeaf('CN=localhost', inter, { eku: [EKU_SERVER], sans: [GN.dns('localhost')], ...opts });

describe('1. key identifiers', () => {
  test('leaf without authorityKeyIdentifier → missing_authority_key_id (0)', async () => {
    await check({ leaf: leafWith({ omit: ['2.5.29.35'] }), expect: 'missing_authority_key_id', certIndex: 0, openssl: 'agrees' });
  });
  test('intermediate without authorityKeyIdentifier → missing_authority_key_id (1)', async () => {
    const i = makeIntermediate('CN=No AKI Int', root, { omit: ['2.5.29.35'] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'missing_authority_key_id', certIndex: 1, openssl: 'agrees' });
  });
  test('AKI with only issuer+serial (no keyIdentifier) on a leaf → missing_authority_key_id', async () => {
    const l = leafWith({ omit: ['2.5.29.35'], extra: [X.akiWithIssuer(undefined, root.name, serialOf(inter))] });
    await check({ leaf: l, expect: 'missing_authority_key_id', certIndex: 0, openssl: 'agrees' });
  });
  test('critical authorityKeyIdentifier → authority_key_id_critical (0)', async () => {
    await check({ leaf: leafWith({ omit: ['2.5.29.35'], extra: [X.aki(inter.ski, true)] }), expect: 'authority_key_id_critical', certIndex: 0, openssl: 'agrees' });
  });
  test('CA without subjectKeyIdentifier → missing_subject_key_id (1)', async () => {
    const i = makeIntermediate('CN=No SKI Int', root, { omit: ['2.5.29.14'] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'missing_subject_key_id', certIndex: 1, openssl: 'agrees' });
  });
  test('critical subjectKeyIdentifier → subject_key_id_critical (1)', async () => {
    const key = ecKey();
    const i = makeIntermediate('CN=SKI Crit', root, { key, omit: ['2.5.29.14'], extra: [X.raw('2.5.29.14', true, derEncode({ tag: 0x04, content: makeRoot('CN=k', { key }).ski }))] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'subject_key_id_critical', certIndex: 1, openssl: 'agrees' });
  });
  test('trust anchor whose AKI differs from its SKI → bad_anchor_authority_key_id (2)', async () => {
    const r = makeRoot('CN=AKI Mismatch Root', { extra: [X.aki(Buffer.alloc(20, 7))] });
    const i = makeIntermediate('CN=Under Mismatch', r);
    await check({ leaf: serverLeaf(i), roots: [r], intermediates: [i], expect: 'bad_anchor_authority_key_id', certIndex: 2, openssl: 'agrees' });
  });
  test('trust anchor AKI with authorityCertIssuer/serial → bad_anchor_authority_key_id (2)', async () => {
    const key = ecKey();
    const probe = makeRoot('CN=Issuer AKI Root', { key });
    const r = makeRoot('CN=Issuer AKI Root', { key, extra: [X.akiWithIssuer(probe.ski, 'CN=Issuer AKI Root', serialOf(probe))] });
    const i = makeIntermediate('CN=Under Issuer AKI', r);
    await check({
      leaf: serverLeaf(i), roots: [r], intermediates: [i], expect: 'bad_anchor_authority_key_id', certIndex: 2, openssl: 'agrees',
    });
  });
  test('intermediate AKI naming issuer and serial → bad_authority_key_id (1)', async () => {
    const i = makeIntermediate('CN=Issuer+Serial Int', root, { omit: ['2.5.29.35'], extra: [X.akiWithIssuer(root.ski, root.name, serialOf(root))] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'bad_authority_key_id', certIndex: 1, openssl: { stricter: 'CABF BR 7.1.2.11.1 forbids authorityCertIssuer/SerialNumber in CA certificates' } });
  });
  test('leaf AKI serial that names another certificate → untrusted; the right serial is fine', async () => {
    const wrong = leafWith({ omit: ['2.5.29.35'], extra: [X.akiWithIssuer(inter.ski, root.name, Buffer.from([0x01, 0x02, 0x03]))] });
    await check({ leaf: wrong, expect: 'untrusted', certIndex: 0, openssl: 'agrees' });
    const right = leafWith({ omit: ['2.5.29.35'], extra: [X.akiWithIssuer(inter.ski, root.name, serialOf(inter))] });
    await check({ leaf: right, expect: 'ok', options: { hostname: 'localhost' }, openssl: 'agrees' });
  });
});

describe('2. criticality and placement', () => {
  test('CA basicConstraints not critical → basic_constraints_not_critical (1)', async () => {
    const key = ecKey();
    const i = makeIntermediate('CN=BC Noncrit', root, { key, omit: ['2.5.29.19'], extra: [X.basicConstraints(true, undefined, false)] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'basic_constraints_not_critical', certIndex: 1, openssl: 'agrees' });
  });
  test('nameConstraints on a leaf → name_constraints_on_leaf (0)', async () => {
    await check({ leaf: leafWith({ extra: [X.nameConstraints([GN.dns('localhost')])] }), expect: 'name_constraints_on_leaf', certIndex: 0, openssl: { stricter: 'RFC 5280 4.2.1.10: CA certificates only; OpenSSL ignores it on a leaf' } });
  });
  test('nameConstraints not critical → name_constraints_not_critical (1)', async () => {
    const i = makeIntermediate('CN=NC Noncrit', root, { extra: [X.nameConstraints([GN.dns('localhost')], [], false)] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'name_constraints_not_critical', certIndex: 1, openssl: { stricter: 'RFC 5280 4.2.1.10 says MUST be critical; OpenSSL accepts either' } });
  });
  test('keyCertSign without cA=TRUE → key_cert_sign_without_ca (0)', async () => {
    await check({ leaf: leafWith({ keyUsage: KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN }), expect: 'key_cert_sign_without_ca', certIndex: 0, openssl: 'agrees' });
  });
  test('end-entity with cA=TRUE for the server and client purposes → leaf_is_ca (0)', async () => {
    const key = ecKey();
    const caLeaf = issue('CN=localhost', inter, [
      X.basicConstraints(true, undefined, true), X.keyUsage(KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN), X.eku([EKU_SERVER, EKU_CLIENT]),
      X.san([GN.dns('localhost')]), X.ski(makeRoot('CN=k', { key }).ski), X.aki(inter.ski),
    ], { key });
    const stricter = { stricter: 'OpenSSL lets a CA certificate act as a TLS peer' };
    await check({ leaf: caLeaf, expect: 'leaf_is_ca', certIndex: 0, openssl: stricter });
    await check({ leaf: caLeaf, expect: 'leaf_is_ca', options: { purpose: 'client' }, openssl: stricter });
  });
  test('pathLenConstraint without cA=TRUE → leaf_path_length (0)', async () => {
    await check({ leaf: leafWith({ omit: ['2.5.29.19'], extra: [X.basicConstraints(false, 0)] }), expect: 'leaf_path_length', certIndex: 0, openssl: 'agrees' });
  });
  test('empty subject with a non-critical SAN → san_criticality; critical is fine', async () => {
    const bad = makeLeaf('', inter, { eku: [EKU_SERVER], sans: [GN.dns('localhost')] });
    await check({ leaf: bad, expect: 'san_criticality', certIndex: 0, openssl: 'agrees' });
    const good = makeLeaf('', inter, { eku: [EKU_SERVER], omit: ['2.5.29.17'], extra: [X.san([GN.dns('localhost')], true)] });
    await check({ leaf: good, expect: 'ok', options: { hostname: 'localhost' }, openssl: 'agrees' });
  });
  test('non-empty subject with a critical SAN → san_criticality', async () => {
    const l = leafWith({ omit: ['2.5.29.17'], extra: [X.san([GN.dns('localhost')], true)] });
    await check({ leaf: l, expect: 'san_criticality', certIndex: 0, openssl: { stricter: 'CABF BR 7.1.2.7.12: non-critical when the subject is not empty (RFC 5280 only says SHOULD)' } });
  });
  test('critical EKU on a leaf → eku_critical; anyExtendedKeyUsage → eku_any_on_leaf', async () => {
    await check({ leaf: leafWith({ omit: ['2.5.29.37'], extra: [X.eku([EKU_SERVER], true)] }), expect: 'eku_critical', certIndex: 0, openssl: { stricter: 'CABF BR 7.1.2.7.10: EKU MUST NOT be critical' } });
    await check({ leaf: leafWith({ eku: [EKU_SERVER, EKU_ANY] }), expect: 'eku_any_on_leaf', certIndex: 0, openssl: { stricter: 'CABF BR 7.1.2.7.10: anyExtendedKeyUsage MUST NOT appear in a subscriber certificate' } });
  });
  test('EKU on a root (self-issued trust anchor) → anchor_eku (2); on an intermediate anchor it constrains like any CA EKU', async () => {
    // Web profile (CABF BR 7.1.2.1.2: a root MUST NOT carry EKU), the same verdict for every EKU value.
    for (const oids of [[EKU_SERVER], [EKU_CLIENT], [EKU_ANY]]) {
      const r = makeRoot(`CN=EKU Root ${oids.join(' ')}`, { extra: [X.eku(oids)] });
      const i = makeIntermediate(`CN=Under EKU root ${oids.join(' ')}`, r);
      const stricter = { stricter: 'CABF BR 7.1.2.1.2: a root certificate MUST NOT carry extendedKeyUsage (RFC 5280 gives a CA EKU no meaning)' };
      await check({ leaf: serverLeaf(i), roots: [r], intermediates: [i], expect: 'anchor_eku', certIndex: 2, openssl: oids[0] === EKU_SERVER ? stricter : 'agrees' });
    }
    // An intermediate configured as the anchor is no root: its EKU is a purpose constraint.
    const clientOnly = makeIntermediate('CN=Client-only Int Anchor', root, { extra: [X.eku([EKU_CLIENT])] });
    await check({ leaf: serverLeaf(clientOnly), roots: [clientOnly], intermediates: [], expect: 'wrong_purpose', certIndex: 1, openssl: 'agrees', opensslArgs: ['-partial_chain'] });
    const anyInt = makeIntermediate('CN=Any Int', root, { extra: [X.eku([EKU_ANY])] });
    // Like pyca/cryptography, a CA EKU of anyExtendedKeyUsage allows every purpose; OpenSSL wants serverAuth itself.
    await check({ leaf: serverLeaf(anyInt), intermediates: [anyInt], expect: 'ok', openssl: { opensslRefuses: 'OpenSSL does not accept anyExtendedKeyUsage on a CA for sslserver' } });
  });
  test('codeSigning, emailProtection, timeStamping, OCSPSigning or the CT precertificate purpose beside serverAuth → eku_not_allowed (0)', async () => {
    for (const oid of ['1.3.6.1.5.5.7.3.3', '1.3.6.1.5.5.7.3.4', '1.3.6.1.5.5.7.3.8', '1.3.6.1.5.5.7.3.9', '1.3.6.1.4.1.11129.2.4.4']) {
      await check({ leaf: leafWith({ eku: [EKU_SERVER, oid] }), expect: 'eku_not_allowed', certIndex: 0, openssl: { stricter: `CABF BR 7.1.2.7.10: ${oid} MUST NOT appear in a TLS server certificate` } });
    }
    await check({ leaf: leafWith({ eku: [EKU_SERVER, EKU_CLIENT] }), expect: 'ok', openssl: 'agrees' });
  });
  test('authorityInfoAccess critical or malformed → bad_authority_info_access (0)', async () => {
    const aia = D.seq(D.seq(D.oid('1.3.6.1.5.5.7.48.2'), D.ia5(0x86, 'http://ca.example/int.der')));
    await check({ leaf: leafWith({ extra: [X.raw('1.3.6.1.5.5.7.1.1', true, aia)] }), expect: 'bad_authority_info_access', certIndex: 0, openssl: 'agrees' });
    await check({ leaf: leafWith({ extra: [X.raw('1.3.6.1.5.5.7.1.1', false, D.seq(D.oid('1.3.6.1.5.5.7.48.2')))] }), expect: 'bad_authority_info_access', certIndex: 0, openssl: { stricter: 'a malformed AIA is refused, not skipped' } });
    await check({ leaf: leafWith({ extra: [X.raw('1.3.6.1.5.5.7.1.1', false, aia)] }), expect: 'ok', openssl: 'agrees' });
  });
});

describe('3. certificate policies (RFC 5280 6.1)', () => {
  // anyPolicy as user-initial-policy-set, the input every SecureChat peer uses.
  const policyCheck = ['-policy_check', '-policy', '2.5.29.32.0'];
  test('requireExplicitPolicy 0 and no policies → policy_violation', async () => {
    const i = makeIntermediate('CN=Explicit Int', root, { extra: [P.constraints({ requireExplicit: 0 })] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'policy_violation', openssl: 'agrees', opensslArgs: policyCheck });
  });
  test('a non-critical policyConstraints is enforced too', async () => {
    const i = makeIntermediate('CN=Noncrit PC Int', root, { extra: [P.constraints({ requireExplicit: 0 }, false)] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'policy_violation', openssl: 'agrees', opensslArgs: policyCheck });
  });
  test('explicit policy: the same policy all the way down is fine, a different one is not', async () => {
    const i = makeIntermediate('CN=Policy A Int', root, { extra: [P.constraints({ requireExplicit: 0 }), P.policies([POLICY.a])] });
    await check({ leaf: serverLeaf(i, { extra: [P.policies([POLICY.a])] }), intermediates: [i], expect: 'ok', openssl: 'agrees', opensslArgs: policyCheck });
    await check({ leaf: serverLeaf(i, { extra: [P.policies([POLICY.b])] }), intermediates: [i], expect: 'policy_violation', certIndex: 0, openssl: 'agrees', opensslArgs: policyCheck });
  });
  test('policyMappings A→B lets a leaf asserting B through', async () => {
    const i = makeIntermediate('CN=Mapping Int', root, { extra: [P.constraints({ requireExplicit: 0 }), P.policies([POLICY.a]), P.mappings([[POLICY.a, POLICY.b]])] });
    await check({ leaf: serverLeaf(i, { extra: [P.policies([POLICY.b])] }), intermediates: [i], expect: 'ok', openssl: 'agrees', opensslArgs: policyCheck });
    await check({ leaf: serverLeaf(i, { extra: [P.policies([POLICY.c])] }), intermediates: [i], expect: 'policy_violation', openssl: 'agrees', opensslArgs: policyCheck });
  });
  test('a mapping to or from anyPolicy → bad_policy (1)', async () => {
    const i = makeIntermediate('CN=Any Mapping Int', root, { extra: [P.policies([POLICY.any]), P.mappings([[POLICY.any, POLICY.b]])] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'bad_policy', certIndex: 1, openssl: 'agrees', opensslArgs: policyCheck });
  });
  test('inhibitAnyPolicy 0: anyPolicy in the leaf no longer counts → policy_violation', async () => {
    const i = makeIntermediate('CN=Inhibit Any Int', root, { extra: [P.constraints({ requireExplicit: 0 }), P.policies([POLICY.any]), P.inhibitAny(0)] });
    await check({ leaf: serverLeaf(i, { extra: [P.policies([POLICY.any])] }), intermediates: [i], expect: 'policy_violation', certIndex: 0, openssl: 'agrees', opensslArgs: policyCheck });
    await check({ leaf: serverLeaf(i, { extra: [P.policies([POLICY.a])] }), intermediates: [i], expect: 'ok', openssl: 'agrees', opensslArgs: policyCheck });
  });
  test('inhibitPolicyMapping 0 above a mapping CA deletes the mapped policy → policy_violation', async () => {
    const i1 = makeIntermediate('CN=Inhibit Map Int', root, { extra: [P.constraints({ requireExplicit: 0, inhibitMapping: 0 }), P.policies([POLICY.a])] });
    const i2 = makeIntermediate('CN=Mapping Below', i1, { extra: [P.policies([POLICY.a]), P.mappings([[POLICY.a, POLICY.b]])] });
    await check({ leaf: serverLeaf(i2, { extra: [P.policies([POLICY.b])] }), intermediates: [i1, i2], expect: 'policy_violation', openssl: 'agrees', opensslArgs: policyCheck });
  });
  test('a policy OID twice in certificatePolicies → bad_policy (0)', async () => {
    await check({ leaf: leafWith({ extra: [P.policies([POLICY.a, POLICY.a])] }), expect: 'bad_policy', certIndex: 0, openssl: { stricter: 'RFC 5280 4.2.1.4: a policy OID MUST NOT appear more than once' } });
  });
  test('without requireExplicitPolicy, policies never decide: inhibitAnyPolicy and mappings alone are fine', async () => {
    const i = makeIntermediate('CN=Loose Policy Int', root, { extra: [P.policies([POLICY.a]), P.mappings([[POLICY.a, POLICY.b]]), P.inhibitAny(0)] });
    await check({ leaf: serverLeaf(i, { extra: [P.policies([POLICY.c])] }), intermediates: [i], expect: 'ok', openssl: 'agrees', opensslArgs: policyCheck });
  });
});

describe('4. names', () => {
  test('CA with an empty subject → ca_empty_subject (1)', async () => {
    const i = makeIntermediate('', root, { extra: [X.san([GN.dns('ca.example.com')], true)] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'ca_empty_subject', certIndex: 1, openssl: 'agrees' });
  });
  test('dNSName syntax: underscore, empty, leading/trailing dot, inner wildcard → bad_dns_name (0)', async () => {
    for (const name of ['under_score.example.com', '', '.example.com', 'localhost.', 'a.*.example.com', '-bad.example.com']) {
      const l = makeLeaf('CN=leaf', inter, { eku: [EKU_CLIENT], sans: [GN.dns(name)] });
      await check({ leaf: l, expect: 'bad_dns_name', certIndex: 0, options: { purpose: 'client' }, openssl: { stricter: `preferred name syntax (RFC 5280 4.2.1.6): "${name}"` } });
    }
  });
  test('wildcard directly on a public suffix (ICANN or private section) → wildcard_public_suffix (0)', async () => {
    for (const name of ['*.com', '*.co.uk', '*.github.io']) {
      const l = makeLeaf('CN=leaf', inter, { eku: [EKU_CLIENT], sans: [GN.dns(name)] });
      await check({ leaf: l, expect: 'wildcard_public_suffix', certIndex: 0, options: { purpose: 'client' }, openssl: { stricter: 'OpenSSL never consults the public suffix list' } });
    }
    await check({ leaf: makeLeaf('CN=leaf', inter, { sans: [GN.dns('*.example.co.uk')] }), expect: 'ok', options: { purpose: 'client' }, openssl: 'agrees' });
  });
  test('server CN must be a byte-for-byte copy of a SAN → cn_not_in_san (0)', async () => {
    const stricter = { stricter: 'CABF BR 7.1.4.3; OpenSSL ignores the CN once there are SANs' };
    const cases: [string, ReturnType<typeof GN.dns>][] = [
      ['CN=other.example.com', GN.dns('localhost')],
      ['CN=LOCALHOST', GN.dns('localhost')],
      ['CN=127.000.000.001', GN.ip('127.0.0.1')],
      ['CN=0:0:0:0:0:0:0:1', GN.ip('::1')],
      ['CN=bücher.example', GN.dns('xn--bcher-kva.example')],
    ];
    for (const [cn, san] of cases) {
      await check({ leaf: makeLeaf(cn, inter, { eku: [EKU_SERVER], sans: [san] }), expect: 'cn_not_in_san', certIndex: 0, openssl: stricter });
    }
    for (const [cn, san] of [['CN=127.0.0.1', GN.ip('127.0.0.1')], ['CN=::1', GN.ip('::1')], ['CN=Mixed.Example', GN.dns('Mixed.Example')]] as const) {
      await check({ leaf: makeLeaf(cn, inter, { eku: [EKU_SERVER], sans: [san] }), expect: 'ok', openssl: 'agrees' });
    }
    // Client certificates carry a user name as CN and no SAN: the rule is for servers.
    await check({ leaf: makeLeaf('CN=alice', inter, { eku: [EKU_CLIENT], omit: ['2.5.29.17'] }), expect: 'ok', options: { purpose: 'client' }, openssl: 'agrees' });
  });
  test('server certificate without SAN → missing_san (0)', async () => {
    await check({ leaf: makeLeaf('CN=localhost', inter, { eku: [EKU_SERVER], omit: ['2.5.29.17'] }), expect: 'missing_san', certIndex: 0, openssl: { stricter: 'CABF BR 7.1.2.7.12 requires a SAN; OpenSSL does not without -verify_hostname' } });
  });
  const constrained = (name: string, permitted: ReturnType<typeof GN.dns>[], excluded: ReturnType<typeof GN.dns>[] = []): Fixture =>
    makeIntermediate(name, root, { extra: [X.nameConstraints(permitted, excluded)] });
  test('a wildcard SAN overlapping an excluded subtree → name_constraints (0)', async () => {
    const i = constrained('CN=Excl Bad', [], [GN.dns('bad.example.com')]);
    const wild = makeLeaf('CN=*.example.com', i, { eku: [EKU_SERVER], sans: [GN.dns('*.example.com')] });
    await check({ leaf: wild, intermediates: [i], expect: 'name_constraints', certIndex: 0, openssl: { stricter: 'OpenSSL compares "*.example.com" as a literal string, so the wildcard dodges the exclusion (a published bypass)' } });
    const deeper = constrained('CN=Excl Deep', [], [GN.dns('x.bad.example.com')]);
    await check({ leaf: makeLeaf('CN=*.example.com', deeper, { eku: [EKU_SERVER], sans: [GN.dns('*.example.com')] }), intermediates: [deeper], expect: 'ok', openssl: 'agrees' });
  });
  test('a wildcard SAN must lie wholly inside a permitted subtree', async () => {
    const narrow = constrained('CN=Perm A', [GN.dns('a.example.com')]);
    await check({ leaf: makeLeaf('CN=*.example.com', narrow, { eku: [EKU_SERVER], sans: [GN.dns('*.example.com')] }), intermediates: [narrow], expect: 'name_constraints', openssl: 'agrees' });
    const wide = constrained('CN=Perm Example', [GN.dns('example.com')]);
    await check({ leaf: makeLeaf('CN=*.example.com', wide, { eku: [EKU_SERVER], sans: [GN.dns('*.example.com')] }), intermediates: [wide], expect: 'ok', openssl: 'agrees' });
  });
  test('constraint matching ignores letter case (excluded BAD.example.com vs bad.EXAMPLE.com)', async () => {
    const i = constrained('CN=Case Excl', [], [GN.dns('BAD.example.com')]);
    await check({ leaf: makeLeaf('CN=bad.EXAMPLE.com', i, { eku: [EKU_SERVER], sans: [GN.dns('bad.EXAMPLE.com')] }), intermediates: [i], expect: 'name_constraints', openssl: 'agrees' });
    const p = constrained('CN=Case Perm', [GN.dns('Example.COM')]);
    await check({ leaf: makeLeaf('CN=a.example.com', p, { eku: [EKU_SERVER], sans: [GN.dns('a.example.com')] }), intermediates: [p], expect: 'ok', openssl: 'agrees' });
    const mail = makeIntermediate('CN=Mail Excl', root, { extra: [X.nameConstraints([], [GN.email('example.com')])] });
    await check({ leaf: makeLeaf('CN=m', mail, { eku: [EKU_CLIENT], sans: [GN.email('a@EXAMPLE.com')] }), intermediates: [mail], expect: 'name_constraints', options: { purpose: 'client' }, openssl: 'agrees' });
  });
  test('invalid names in constraints fail closed → bad_name_constraint (1)', async () => {
    for (const base of ['under_score.example.com', 'example.com.', '*.example.com']) {
      // Excluded, so that the leaf (localhost) would satisfy the constraint if it were read at all.
      const i = constrained(`CN=Bad NC ${base}`, [], [GN.dns(base)]);
      await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'bad_name_constraint', certIndex: 1, openssl: { stricter: `a constraint we could misread ("${base}") is refused` } });
    }
    const mask = makeIntermediate('CN=Bad Mask', root, { extra: [X.nameConstraints([], [GN.ip('10.0.0.0/8')])], mutateTbs: (tbs) => patchIpMask(tbs) });
    await check({ leaf: serverLeaf(mask), intermediates: [mask], expect: 'bad_name_constraint', certIndex: 1, openssl: { stricter: 'a non-contiguous iPAddress mask is refused' } });
  });
  test('a dNSName constraint with a leading dot (".example.com") → bad_name_constraint (1), permitted or excluded', async () => {
    const p = constrained('CN=Dot Perm', [GN.dns('.example.com')]);
    const leaf = makeLeaf('CN=foo.example.com', p, { eku: [EKU_SERVER], sans: [GN.dns('foo.example.com')] });
    await check({ leaf, intermediates: [p], expect: 'bad_name_constraint', certIndex: 1, openssl: { stricter: 'RFC 5280 4.2.1.10 gives the leading dot to URI constraints only; OpenSSL reads it as "subdomains"' } });
    const e = constrained('CN=Dot Excl', [], [GN.dns('.evil.example')]);
    await check({ leaf: serverLeaf(e), intermediates: [e], expect: 'bad_name_constraint', certIndex: 1, openssl: { stricter: 'same rule for an excluded subtree' } });
    // For rfc822Name the leading dot is the RFC's own syntax (any host below the domain): still fine.
    const mail = makeIntermediate('CN=Mail Dot', root, { extra: [X.nameConstraints([GN.email('.example.com')])] });
    await check({ leaf: makeLeaf('CN=m', mail, { eku: [EKU_CLIENT], sans: [GN.email('a@host.example.com')] }), intermediates: [mail], options: { purpose: 'client' }, expect: 'ok', openssl: 'agrees' });
  });
  test('nameConstraints with an empty permittedSubtrees list → bad_name_constraint (1)', async () => {
    // [0] {} beside a real excluded list: SIZE (1..MAX) broken; read naively it permits every name.
    const nc = D.seq(derEncode({ tag: 0xa0, children: [] }), derEncode({ tag: 0xa1, children: [derParse(D.seq(D.ia5(0x82, 'bad.example.com')))] }));
    const i = makeIntermediate('CN=Empty Permitted', root, { extra: [X.raw('2.5.29.30', true, nc)] });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'bad_name_constraint', certIndex: 1, openssl: { stricter: 'an empty GeneralSubtrees is refused, not read as "no constraint"' } });
  });
  test('an rfc822Name SAN that is not one mailbox ("a@evil.com@example.com") → bad_email_address (0), also without constraints', async () => {
    const i = makeIntermediate('CN=Mail Perm', root, { extra: [X.nameConstraints([GN.email('example.com')])] });
    const two = makeLeaf('CN=m', i, { eku: [EKU_CLIENT], sans: [GN.email('good@example.com'), GN.email('invalid@evil.com@example.com')] });
    await check({ leaf: two, intermediates: [i], options: { purpose: 'client' }, expect: 'bad_email_address', certIndex: 0, openssl: { stricter: 'OpenSSL compares the text after the last "@" and lets it through' } });
    for (const bad of ['no-at-sign', '@example.com', 'a@', 'a@under_score.example.com']) {
      await check({ leaf: makeLeaf('CN=m', inter, { eku: [EKU_CLIENT], sans: [GN.email(bad)] }), options: { purpose: 'client' }, expect: 'bad_email_address', certIndex: 0, openssl: { stricter: `"${bad}" is not a mailbox` } });
    }
    const dnMail = makeLeaf('CN=m,emailAddress=x@evil.com@example.com', i, { eku: [EKU_CLIENT], omit: ['2.5.29.17'] });
    await check({ leaf: dnMail, intermediates: [i], options: { purpose: 'client' }, expect: 'bad_email_address', certIndex: 0, openssl: { stricter: 'the subject emailAddress gets the same syntax check' } });
    await check({ leaf: makeLeaf('CN=m', i, { eku: [EKU_CLIENT], sans: [GN.email('good@example.com')] }), intermediates: [i], options: { purpose: 'client' }, expect: 'ok', openssl: 'agrees' });
  });
  test('a trailing dot neither dodges a constraint nor passes one: the SAN is refused', async () => {
    const i = constrained('CN=Excl Dot', [], [GN.dns('bad.example.com')]);
    await check({ leaf: makeLeaf('CN=leaf', i, { eku: [EKU_CLIENT], sans: [GN.dns('bad.example.com.')] }), intermediates: [i], options: { purpose: 'client' }, expect: 'bad_dns_name', openssl: { stricter: 'OpenSSL reads "bad.example.com." as outside "bad.example.com"' } });
  });
  test('iPAddress constraints; a 5-octet SAN iPAddress → bad_ip_address', async () => {
    const i = makeIntermediate('CN=IP NC', root, { extra: [X.nameConstraints([GN.ip('10.0.0.0/8')])] });
    await check({ leaf: makeLeaf('CN=10.1.2.3', i, { eku: [EKU_SERVER], sans: [GN.ip('10.1.2.3')] }), intermediates: [i], expect: 'ok', openssl: 'agrees' });
    await check({ leaf: makeLeaf('CN=192.168.0.1', i, { eku: [EKU_SERVER], sans: [GN.ip('192.168.0.1')] }), intermediates: [i], expect: 'name_constraints', openssl: 'agrees' });
    // Published bypass class: an IPv4-mapped IPv6 SAN reaches the excluded IPv4 host.
    const excl = makeIntermediate('CN=IP Excl', root, { extra: [X.nameConstraints([], [GN.ip('10.0.0.0/8')])] });
    const mapped = Buffer.from('00000000000000000000ffff0a000001', 'hex');
    const mappedLeaf = makeLeaf('CN=::ffff:10.0.0.1', excl, { eku: [EKU_SERVER], omit: ['2.5.29.17'], extra: [X.raw('2.5.29.17', false, D.seq(D.implicit(7, mapped)))] });
    await check({ leaf: mappedLeaf, intermediates: [excl], expect: 'name_constraints', certIndex: 0, openssl: { stricter: 'OpenSSL compares the 16-byte address with the 4-byte range and lets it through' } });
    const odd = leafWith({ omit: ['2.5.29.17'], extra: [X.raw('2.5.29.17', false, D.seq(D.implicit(7, Buffer.from([1, 2, 3, 4, 5]))))] });
    await check({ leaf: odd, expect: 'bad_ip_address', certIndex: 0, openssl: { stricter: 'OpenSSL 3.0 does not check iPAddress lengths without -verify_ip' } });
  });
  test('a directoryName constraint does not apply to an empty subject; the CN never escapes a DNS constraint', async () => {
    const dirCa = makeIntermediate('CN=Dir NC', root, { extra: [X.nameConstraints([GN.dir('O=Good')])] });
    const empty = makeLeaf('', dirCa, { eku: [EKU_SERVER], omit: ['2.5.29.17'], extra: [X.san([GN.dns('localhost')], true)] });
    await check({ leaf: empty, intermediates: [dirCa], expect: 'ok', openssl: 'agrees' });
    const dns = constrained('CN=DNS NC', [GN.dns('example.com')]);
    const cnOnly = makeLeaf('CN=evil.com', dns, { eku: [EKU_CLIENT], sans: [GN.ip('127.0.0.1')] });
    await check({ leaf: cnOnly, intermediates: [dns], options: { purpose: 'client' }, expect: 'name_constraints', certIndex: 0, openssl: 'agrees' });
  });
});

describe('5. work bounds', () => {
  test('names × constraints over the bound → name_constraints_too_complex, quickly', async () => {
    const i = makeIntermediate('CN=Many NC', root, { extra: [X.nameConstraints(Array.from({ length: 300 }, (_, k) => GN.dns(`n${k}.example.com`)))] });
    const l = makeLeaf('CN=leaf', i, { eku: [EKU_CLIENT], sans: Array.from({ length: 300 }, (_, k) => GN.dns(`n${k}.example.com`)) });
    await check({ leaf: l, intermediates: [i], options: { purpose: 'client' }, expect: 'name_constraints_too_complex', certIndex: 0, openssl: { stricter: 'OpenSSL allows 2^20 comparisons; we stop at 65,536 per validation' } });
  });
  test('an issuer key that cannot be parsed → bad_public_key (1)', async () => {
    const i = makeIntermediate('CN=Broken Key Int', root, { mutateTbs: (tbs) => breakSpki(tbs) });
    await check({ leaf: serverLeaf(i), intermediates: [i], expect: 'bad_public_key', certIndex: 1, openssl: 'agrees' });
  });
});

describe('6. keys and encodings', () => {
  test('EC key with explicit curve parameters → explicit_curve_params (0)', async () => {
    const l = leafWith({ mutateTbs: (tbs) => replaceSpki(tbs, explicitCurveSpki()) });
    await check({ leaf: l, expect: 'explicit_curve_params', certIndex: 0, openssl: 'agrees' });
  });
  test('RSA modulus of 2049 bits → rsa_modulus_not_whole_bytes (0)', async () => {
    await check({ leaf: leafWith({ mutateTbs: (tbs) => replaceSpki(tbs, rsaSpki(2049)) }), expect: 'rsa_modulus_not_whole_bytes', certIndex: 0, openssl: { stricter: 'whole-byte moduli (CABF BR 6.1.5)' } });
  });
  test('serial zero, or not minimally encoded → bad_serial (0)', async () => {
    await check({ leaf: leafWith({ serial: Buffer.from([0]) }), expect: 'bad_serial', certIndex: 0, openssl: { stricter: 'RFC 5280 4.1.2.2: positive serial; OpenSSL accepts zero' } });
    // A non-minimal INTEGER is beyond node:crypto's parser: the certificate is malformed before any rule runs.
    assert.throws(() => leafWith({ serial: Buffer.from([0, 1]) }).cert, /Malformed certificate/);
  });
  test('v1 and v2 certificates with extensions → unsupported_version (0)', async () => {
    await check({ leaf: leafWith({ version: 2 }), expect: 'unsupported_version', certIndex: 0, openssl: 'agrees' });
    await check({ leaf: leafWith({ mutateTbs: (tbs) => tbs.children!.shift() }), expect: 'unsupported_version', certIndex: 0, openssl: 'agrees' });
  });
  test('issuerUniqueID / subjectUniqueID → unique_id_present (0)', async () => {
    const l = leafWith({ mutateTbs: (tbs) => tbs.children!.splice(TBS.spki + 1, 0, { tag: 0x82, content: Buffer.from([0, 0xab]) }) });
    await check({ leaf: l, expect: 'unique_id_present', certIndex: 0, openssl: { stricter: 'CABF BR 7.1.2: unique identifiers MUST NOT be present' } });
  });
  test('validity: GeneralizedTime before 2050 and UTCTime with an offset → bad_time_encoding (0)', async () => {
    const gen = leafWith({ mutateTbs: (tbs) => setTime(tbs, 1, { tag: 0x18, content: Buffer.from('20300101000000Z') }) });
    await check({ leaf: gen, expect: 'bad_time_encoding', certIndex: 0, openssl: { stricter: 'RFC 5280 4.1.2.5: UTCTime through 2049' } });
    const offset = leafWith({ mutateTbs: (tbs) => setTime(tbs, 1, { tag: 0x17, content: Buffer.from('300101000000+0100') }) });
    await check({ leaf: offset, expect: 'bad_time_encoding', certIndex: 0, openssl: 'agrees' });
    const noSeconds = leafWith({ mutateTbs: (tbs) => setTime(tbs, 1, { tag: 0x17, content: Buffer.from('3001010000Z') }) });
    await check({ leaf: noSeconds, expect: 'bad_time_encoding', certIndex: 0, openssl: 'agrees' });
  });
  test('algorithm parameters: ECDSA with NULL, PKCS#1 without NULL, rsaEncryption key without NULL → bad_algorithm_parameters (0)', async () => {
    const withParams = (alg: AlgorithmIdentifier): Fixture =>
      leafWith({ mutateTbs: (tbs) => (tbs.children![TBS.signature] = derParse(Buffer.from(AsnConvert.serialize(alg)))), outerAlgorithm: alg });
    const ecdsaNull = new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2', parameters: new Uint8Array([0x05, 0x00]).buffer });
    await check({ leaf: withParams(ecdsaNull), expect: 'bad_algorithm_parameters', certIndex: 0, openssl: { stricter: 'RFC 5758 3.2: ECDSA parameters MUST be absent' } });
    const rsa = makeRoot('CN=RSA Params Root', { key: rsaKey(2048) });
    const rsaLeaf = (alg: AlgorithmIdentifier): Fixture =>
      makeLeaf('CN=localhost', rsa, { eku: [EKU_SERVER], sans: [GN.dns('localhost')], mutateTbs: (tbs) => (tbs.children![TBS.signature] = derParse(Buffer.from(AsnConvert.serialize(alg)))), outerAlgorithm: alg });
    const absent = new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11' });
    await check({ leaf: rsaLeaf(absent), roots: [rsa], intermediates: [], expect: 'bad_algorithm_parameters', certIndex: 0, openssl: { stricter: 'RFC 4055 5: sha256WithRSAEncryption parameters MUST be NULL' } });
    const keyNoNull = leafWith({ mutateTbs: (tbs) => replaceSpki(tbs, rsaSpkiWithoutNull()) });
    await check({ leaf: keyNoNull, expect: 'bad_algorithm_parameters', certIndex: 0, openssl: { stricter: 'RFC 3279 2.3.1: rsaEncryption parameters MUST be NULL' } });
    await check({ leaf: makeLeaf('CN=localhost', rsa, { eku: [EKU_SERVER], sans: [GN.dns('localhost')] }), roots: [rsa], intermediates: [], expect: 'ok', openssl: 'agrees' });
  });
  test('inner and outer signature algorithms differ → signature_algorithm_mismatch (0)', async () => {
    const l = leafWith({ outerAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.3' }) });
    await check({ leaf: l, expect: 'signature_algorithm_mismatch', certIndex: 0, openssl: 'agrees' });
  });
  test('a self-signed end-entity trusted directly is its own anchor', async () => {
    const key = ecKey();
    const self = issue('CN=localhost', undefined, [X.basicConstraints(false), X.keyUsage(KU_DIGITAL_SIGNATURE), X.eku([EKU_SERVER]), X.san([GN.dns('localhost')]), X.ski(makeRoot('CN=k', { key }).ski)], { key });
    await check({ leaf: self, roots: [self], intermediates: [], expect: 'ok', options: { hostname: 'localhost' }, openssl: 'agrees' });
  });
});

describe('7. CRLs', () => {
  const crlChain = (crl: { pem: string; crl: ParsedCrl }, expect: Scenario['expect'], openssl: OpensslVerdict): Promise<void> =>
    check({ leaf: leafWith({}), crls: [crl], expect, openssl, certIndex: 0 });
  test('CRL without a CRL number → crl_number_missing', async () => {
    await crlChain(makeCrl(inter, { extensions: [X.aki(inter.ski)] }), 'crl_number_missing', { stricter: 'RFC 5280 5.2.3: conforming CRLs MUST include the CRL number' });
  });
  test('critical CRL number → crl_number_critical', async () => {
    await crlChain(makeCrl(inter, { extensions: [X.aki(inter.ski), crlNumber(1, true)] }), 'crl_number_critical', 'agrees');
  });
  test('critical issuing distribution point or delta CRL indicator → crl_unsupported_critical', async () => {
    const idp = X.raw('2.5.29.28', true, D.seq(derEncode({ tag: 0x81, content: Buffer.from([0xff]) })));
    await crlChain(makeCrl(inter, { extra: [idp] }), 'crl_unsupported_critical', { stricter: 'we do not implement issuing distribution points, so a CRL scoped by one is not used' });
    await crlChain(makeCrl(inter, { extra: [X.raw('2.5.29.27', true, D.int(1))] }), 'crl_unsupported_critical', { stricter: 'OpenSSL uses a delta CRL as if it were complete' });
  });
  test('a well-formed CRL still works', async () => {
    await crlChain(makeCrl(inter), 'ok', 'agrees');
  });
});

describe('8. depth bound', () => {
  test('more intermediates than maxIntermediates → path_too_long; exactly enough is fine', async () => {
    const i1 = makeIntermediate('CN=Depth 1', root);
    const i2 = makeIntermediate('CN=Depth 2', i1);
    const l = serverLeaf(i2);
    await check({ leaf: l, intermediates: [i1, i2], options: { maxIntermediates: 1 }, expect: 'path_too_long', openssl: 'agrees', opensslArgs: ['-verify_depth', '1'] });
    await check({ leaf: l, intermediates: [i1, i2], options: { maxIntermediates: 2 }, expect: 'ok', openssl: 'agrees', opensslArgs: ['-verify_depth', '2'] });
  });
});

// --- DER surgery helpers -------------------------------------------------------------------------

function setTime(tbs: DerNode, which: 0 | 1, time: DerNode): void {
  tbs.children![TBS.validity].children![which] = time;
}

function replaceSpki(tbs: DerNode, spki: Buffer): void {
  tbs.children![TBS.spki] = derParse(spki);
}

/** rsaEncryption whose key BIT STRING holds no RSAPublicKey: node:crypto cannot parse it. */
function breakSpki(tbs: DerNode): void {
  replaceSpki(tbs, D.seq(D.seq(D.oid('1.2.840.113549.1.1.1'), derEncode({ tag: 0x05, content: Buffer.alloc(0) })), derEncode({ tag: 0x03, content: Buffer.from([0, 0x30, 0x03, 0x02, 0x01]) })));
}

/** An rsaEncryption SPKI with a modulus of exactly `bits` bits (the leaf's key is never used to sign here). */
/** A real 2048-bit RSA key whose AlgorithmIdentifier leaves the NULL parameters out. */
function rsaSpkiWithoutNull(): Buffer {
  const spki = derParse(rsaKey(2048).publicKey.export({ type: 'spki', format: 'der' }));
  spki.children![0] = derParse(D.seq(D.oid('1.2.840.113549.1.1.1')));
  return derEncode(spki);
}

function rsaSpki(bits: number): Buffer {
  const bytes = Math.ceil(bits / 8);
  const modulus = Buffer.alloc(bytes, 0xc5);
  modulus[0] = 1 << ((bits - 1) % 8);
  modulus[bytes - 1] |= 1;
  const n = derEncode({ tag: 0x02, content: modulus[0] & 0x80 ? Buffer.concat([Buffer.from([0]), modulus]) : modulus });
  const rsaKeyDer = D.seq(n, D.int(65537));
  return D.seq(D.seq(D.oid('1.2.840.113549.1.1.1'), derEncode({ tag: 0x05, content: Buffer.alloc(0) })), derEncode({ tag: 0x03, content: Buffer.concat([Buffer.from([0]), rsaKeyDer]) }));
}

function explicitCurveSpki(): Buffer {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256', paramEncoding: 'explicit', publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } });
  return Buffer.from(pair.publicKey);
}

/** 10.0.0.0 with mask 255.0.255.0: a mask with a hole. */
function patchIpMask(tbs: DerNode): void {
  const exts = tbs.children!.find((c) => c.tag === 0xa3)!.children![0].children!;
  for (const e of exts) {
    const [oid, , value] = e.children!;
    if (oid.content!.equals(derParse(D.oid('2.5.29.30')).content!)) {
      const nc = derParse((value ?? e.children![1]).content!);
      nc.children![0].children![0].children![0].content = Buffer.from([10, 0, 0, 0, 255, 0, 255, 0]);
      (value ?? e.children![1]).content = derEncode(nc);
    }
  }
}
