/**
 * One scenario per validator rule: each builds its own certificates, checks the reason code and
 * the certificate index verifyChain reports, then runs the same files through `openssl verify
 * -x509_strict` and asserts the same verdict wherever OpenSSL enforces the rule (the scenarios
 * where it does not say why in `opensslDiffers`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { verifyChain, type CertFailureReason, type VerifyOptions } from '../../src/pki/verify.js';
import {
  DAY, EKU_ANY, EKU_CLIENT, EKU_SERVER, GN, KU_DIGITAL_SIGNATURE, KU_KEY_ENCIPHERMENT, X, ecKey, issue, makeCrl,
  makeIntermediate, makeLeaf, makeRoot, opensslVerify, rsaKey, serialOf, type Fixture,
} from '../helpers/pki-fixtures.js';

interface Scenario {
  leaf: Fixture;
  roots: Fixture[];
  intermediates?: Fixture[];
  crls?: { pem: string; crl: import('../../src/pki/verify.js').ParsedCrl }[];
  options?: Partial<Omit<VerifyOptions, 'roots' | 'intermediates' | 'crls'>>;
  expect: 'ok' | CertFailureReason;
  certIndex?: number;
  /** Set when OpenSSL does not enforce the rule the same way: why (the verdicts are then not compared). */
  opensslDiffers?: string;
  opensslArgs?: string[];
}

let dir: string;
let root: Fixture;
let inter: Fixture;
let leaf: Fixture;
const now = Date.now();

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'verify-test-'));
  root = makeRoot('CN=Test Root,O=SecureChat');
  inter = makeIntermediate('CN=Test Intermediate,O=SecureChat', root);
  leaf = makeLeaf('CN=localhost', inter, { sans: [GN.dns('localhost'), GN.dns('*.example.com'), GN.ip('127.0.0.1'), GN.ip('::1')] });
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function check(s: Scenario): Promise<void> {
  const result = verifyChain(s.leaf.cert, {
    roots: s.roots.map((r) => r.cert),
    intermediates: (s.intermediates ?? []).map((c) => c.cert),
    ...(s.crls ? { crls: s.crls.map((c) => c.crl) } : {}),
    purpose: 'any',
    ...s.options,
  });
  if (s.expect === 'ok') {
    assert.ok(result.ok, `expected a valid path, got ${JSON.stringify(result)}`);
  } else {
    assert.ok(!result.ok, `expected ${s.expect}, got a valid path`);
    assert.equal(result.reason, s.expect, result.detail);
    if (s.certIndex !== undefined) assert.equal(result.certIndex, s.certIndex, result.detail);
    assert.ok(result.detail.length > 0);
  }
  if (s.opensslDiffers) return;
  const host = s.options?.hostname;
  const ossl = await opensslVerify(dir, {
    roots: s.roots,
    untrusted: s.intermediates ?? [],
    leaf: s.leaf,
    ...(s.crls ? { crls: s.crls, crlCheckAll: s.options?.crlPolicy === 'all' } : {}),
    ...(s.options?.time ? { at: s.options.time } : {}),
    purpose: s.options?.purpose ?? 'any',
    ...(host ? (isIP(host) ? { ip: host } : { hostname: host }) : {}),
    ...(s.opensslArgs ? { extraArgs: s.opensslArgs } : {}),
  });
  assert.equal(ossl.ok, s.expect === 'ok', `openssl disagrees (${s.expect}): ${ossl.output}`);
}

const chain = (l: Fixture, extra: Partial<Scenario> & Pick<Scenario, 'expect'>): Scenario => ({ leaf: l, roots: [root], intermediates: [inter], ...extra });

describe('valid paths', () => {
  test('leaf → intermediate → root, server purpose, DNS and IP names', async () => {
    await check(chain(leaf, { expect: 'ok', options: { purpose: 'server', hostname: 'localhost' } }));
    await check(chain(leaf, { expect: 'ok', options: { purpose: 'client', hostname: '127.0.0.1' } }));
    await check(chain(leaf, { expect: 'ok', options: { purpose: 'server', hostname: '0:0:0:0:0:0:0:1' } }));
    await check(chain(leaf, { expect: 'ok', options: { purpose: 'server', hostname: 'A.Example.COM' } }));
  });

  test('the path is leaf first, root last; intermediates in any order among unrelated ones; several roots', () => {
    const otherRoot = makeRoot('CN=Other Root');
    const stray = makeIntermediate('CN=Stray', otherRoot);
    const result = verifyChain(leaf.cert, { roots: [otherRoot.cert, root.cert], intermediates: [stray.cert, leaf.cert, inter.cert], purpose: 'server' });
    assert.ok(result.ok);
    assert.deepEqual(result.path.map((c) => c.subject), ['CN=localhost', 'CN=Test Intermediate, O=SecureChat', 'CN=Test Root, O=SecureChat']);
  });

  test('validation time is an input: an expired leaf is valid at a time inside its validity', async () => {
    const longRoot = makeRoot('CN=Long Root', { notBefore: new Date(now - 30 * DAY) });
    const longInter = makeIntermediate('CN=Long Int', longRoot, { notBefore: new Date(now - 30 * DAY) });
    const old = makeLeaf('CN=old', longInter, { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - 5 * DAY) });
    await check({ leaf: old, roots: [longRoot], intermediates: [longInter], expect: 'ok', options: { time: new Date(now - 7 * DAY) } });
    await check({ leaf: old, roots: [longRoot], intermediates: [longInter], expect: 'expired', certIndex: 0 });
  });

  test('a trust anchor may itself be the certificate being verified', () => {
    const key = ecKey();
    const self = makeRoot('CN=Self', { key, extensions: [X.basicConstraints(true), X.keyUsage(KU_DIGITAL_SIGNATURE | 32), X.ski(makeRoot('CN=k', { key }).ski)] });
    const result = verifyChain(self.cert, { roots: [self.cert], purpose: 'any' });
    assert.ok(result.ok && result.path.length === 1, JSON.stringify(result));
  });
});

describe('validity', () => {
  test('expired leaf → expired (0)', async () => {
    const l = makeLeaf('CN=expired', inter, { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) });
    await check(chain(l, { expect: 'expired', certIndex: 0 }));
  });
  test('not-yet-valid leaf → not_yet_valid (0)', async () => {
    const l = makeLeaf('CN=future', inter, { notBefore: new Date(now + DAY), notAfter: new Date(now + 10 * DAY) });
    await check(chain(l, { expect: 'not_yet_valid', certIndex: 0 }));
  });
  test('expired intermediate → expired (1)', async () => {
    const i = makeIntermediate('CN=Old Intermediate', root, { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) });
    const l = makeLeaf('CN=leaf', i, { notBefore: new Date(now - 5 * DAY) });
    await check({ leaf: l, roots: [root], intermediates: [i], expect: 'expired', certIndex: 1 });
  });
  test('expired root → expired (2)', async () => {
    const r = makeRoot('CN=Old Root', { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) });
    const i = makeIntermediate('CN=Int', r);
    await check({ leaf: makeLeaf('CN=leaf', i), roots: [r], intermediates: [i], expect: 'expired', certIndex: 2 });
  });
});

describe('trust and signatures', () => {
  test('chain to a root that is not trusted → untrusted', async () => {
    const stranger = makeRoot('CN=Stranger Root');
    const i = makeIntermediate('CN=Stranger Int', stranger);
    await check({ leaf: makeLeaf('CN=x', i), roots: [root], intermediates: [i], expect: 'untrusted', certIndex: 1 });
  });
  test('missing intermediate → untrusted (0)', async () => {
    await check({ leaf, roots: [root], expect: 'untrusted', certIndex: 0 });
  });
  test('signature made by another key under the right names → bad_signature (0)', async () => {
    const forged = makeLeaf('CN=forged', inter, { signWith: ecKey() });
    await check(chain(forged, { expect: 'bad_signature', certIndex: 0 }));
  });
});

describe('weak algorithms', () => {
  const auth = ['-auth_level', '2'];
  test('RSA-1024 leaf key → weak_key (0)', async () => {
    await check(chain(makeLeaf('CN=weak', inter, { key: rsaKey(1024) }), { expect: 'weak_key', certIndex: 0, opensslArgs: auth }));
  });
  test('RSA-1024 root key → weak_key (2)', async () => {
    const r = makeRoot('CN=Weak Root', { key: rsaKey(1024) });
    const i = makeIntermediate('CN=Int under weak', r);
    await check({ leaf: makeLeaf('CN=x', i), roots: [r], intermediates: [i], expect: 'weak_key', certIndex: 2, opensslArgs: auth });
  });
  test('ecdsa-with-SHA1 signature → weak_signature (0)', async () => {
    await check(chain(makeLeaf('CN=sha1', inter, { digest: 'sha1' }), { expect: 'weak_signature', certIndex: 0, opensslArgs: auth }));
  });
  test('sha1WithRSA and md5WithRSA signatures → weak_signature', async () => {
    const r = makeRoot('CN=RSA Root', { key: rsaKey(2048) });
    for (const digest of ['sha1', 'md5'] as const) {
      const i = makeIntermediate(`CN=${digest} Int`, r, { digest });
      await check({ leaf: makeLeaf('CN=x', i), roots: [r], intermediates: [i], expect: 'weak_signature', certIndex: 1, opensslArgs: auth });
    }
  });
});

describe('basic constraints, key usage, purpose', () => {
  test('issuer with CA:FALSE → not_ca (1)', async () => {
    // keyUsage without keyCertSign: with it the certificate would already fail key_cert_sign_without_ca.
    const i = issue('CN=Not A CA', root, [X.basicConstraints(false), X.keyUsage(KU_DIGITAL_SIGNATURE), X.ski(Buffer.alloc(20, 1)), X.aki(root.ski)], {});
    await check({ leaf: makeLeaf('CN=x', { ...i, ski: Buffer.alloc(20, 1) }), roots: [root], intermediates: [i], expect: 'not_ca', certIndex: 1 });
  });
  test('issuer without basicConstraints → not_ca (1)', async () => {
    const i = makeIntermediate('CN=No BC', root, { omit: ['2.5.29.19', '2.5.29.15'] });
    await check({ leaf: makeLeaf('CN=x', i), roots: [root], intermediates: [i], expect: 'not_ca', certIndex: 1 });
  });
  test('v1 intermediate → unsupported_version (1)', async () => {
    const i = makeIntermediate('CN=V1 Int', root, { version: 1, extensions: [] });
    await check({ leaf: makeLeaf('CN=x', i), roots: [root], intermediates: [i], expect: 'unsupported_version', certIndex: 1 });
  });
  test('pathLenConstraint 0 on the root with an intermediate below → path_length_exceeded (2)', async () => {
    const r = makeRoot('CN=PathLen0 Root', { pathLen: 0 });
    const i = makeIntermediate('CN=Int', r);
    await check({ leaf: makeLeaf('CN=x', i), roots: [r], intermediates: [i], expect: 'path_length_exceeded', certIndex: 2 });
  });
  test('pathLenConstraint 1 with two intermediates → path_length_exceeded; 1 is enough for one', async () => {
    const r = makeRoot('CN=PathLen1 Root', { pathLen: 1 });
    const i1 = makeIntermediate('CN=Int 1', r);
    const i2 = makeIntermediate('CN=Int 2', i1);
    await check({ leaf: makeLeaf('CN=x', i2), roots: [r], intermediates: [i1, i2], expect: 'path_length_exceeded', certIndex: 3 });
    await check({ leaf: makeLeaf('CN=y', i1), roots: [r], intermediates: [i1], expect: 'ok' });
  });
  test('CA keyUsage without keyCertSign → bad_key_usage (1)', async () => {
    const key = ecKey();
    const i = makeIntermediate('CN=KU Int', root, { key, omit: ['2.5.29.15'], extra: [X.keyUsage(KU_DIGITAL_SIGNATURE)] });
    await check({ leaf: makeLeaf('CN=x', i), roots: [root], intermediates: [i], expect: 'bad_key_usage', certIndex: 1 });
  });
  test('leaf keyUsage without digitalSignature → bad_key_usage (0)', async () => {
    const l = makeLeaf('CN=ke', inter, { keyUsage: KU_KEY_ENCIPHERMENT });
    // OpenSSL's sslclient purpose accepts digitalSignature or keyAgreement only, so it agrees here…
    await check(chain(l, { expect: 'bad_key_usage', certIndex: 0, options: { purpose: 'client' } }));
    // …but its sslserver purpose also accepts keyEncipherment (RSA key transport, which we never use).
    await check(chain(l, { expect: 'bad_key_usage', options: { purpose: 'server' }, opensslDiffers: 'sslserver accepts keyEncipherment' }));
  });
  test('client-only EKU for a server → wrong_purpose (0), and vice versa', async () => {
    await check(chain(makeLeaf('CN=c', inter, { eku: [EKU_CLIENT] }), { expect: 'wrong_purpose', certIndex: 0, options: { purpose: 'server' } }));
    await check(chain(makeLeaf('CN=s', inter, { eku: [EKU_SERVER] }), { expect: 'wrong_purpose', certIndex: 0, options: { purpose: 'client' } }));
  });
  test('leaf without EKU → wrong_purpose for server/client, fine for any', async () => {
    const l = makeLeaf('CN=no eku', inter, { omit: ['2.5.29.37'] });
    await check(chain(l, { expect: 'wrong_purpose', options: { purpose: 'server' }, opensslDiffers: 'OpenSSL treats a missing EKU as any purpose' }));
    await check(chain(l, { expect: 'ok', options: { purpose: 'any' } }));
  });
  test('intermediate EKU without the purpose → wrong_purpose (1); anyExtendedKeyUsage is fine', async () => {
    const i = makeIntermediate('CN=Client CA', root, { extra: [X.eku([EKU_CLIENT])] });
    await check({ leaf: makeLeaf('CN=localhost', i), roots: [root], intermediates: [i], expect: 'wrong_purpose', certIndex: 1, options: { purpose: 'server' } });
    const any = makeIntermediate('CN=Any CA', root, { extra: [X.eku([EKU_ANY])] });
    const result = verifyChain(makeLeaf('CN=localhost', any).cert, { roots: [root.cert], intermediates: [any.cert], purpose: 'server' });
    assert.ok(result.ok, JSON.stringify(result));
  });
});

describe('host names', () => {
  test('no SAN matches → name_mismatch; the CN is never used', async () => {
    await check(chain(leaf, { expect: 'name_mismatch', certIndex: 0, options: { hostname: 'other.test' } }));
    const cnOnly = makeLeaf('CN=cn.example.org', inter, { sans: [GN.dns('localhost')] });
    await check(chain(cnOnly, { expect: 'name_mismatch', options: { hostname: 'cn.example.org' } }));
  });
  test('wildcards match exactly one left-most label', async () => {
    await check(chain(leaf, { expect: 'name_mismatch', options: { hostname: 'a.b.example.com' } }));
    await check(chain(leaf, { expect: 'name_mismatch', options: { hostname: 'example.com' } }));
    // A partial-label wildcard is not preferred name syntax: the certificate is refused before any matching.
    const partial = makeLeaf('CN=p', inter, { sans: [GN.dns('f*.example.com')] });
    await check(chain(partial, { expect: 'bad_dns_name', options: { hostname: 'foo.example.com' }, opensslDiffers: 'OpenSSL accepts partial-label wildcards by default' }));
  });
  test('IP literals match iPAddress SANs only', async () => {
    await check(chain(leaf, { expect: 'name_mismatch', options: { hostname: '127.0.0.2' } }));
    await check(chain(leaf, { expect: 'name_mismatch', options: { hostname: '::2' } }));
    // An IP address written as a dNSName is not a host name (all-numeric top label): refused outright.
    const dnsIp = makeLeaf('CN=d', inter, { sans: [GN.dns('10.0.0.1')] });
    await check(chain(dnsIp, { expect: 'bad_dns_name', options: { hostname: '10.0.0.1' } }));
  });
});

describe('name constraints', () => {
  const constrained = (name: string, permitted: Parameters<typeof X.nameConstraints>[0], excluded: Parameters<typeof X.nameConstraints>[1] = []) =>
    makeIntermediate(name, root, { extra: [X.nameConstraints(permitted, excluded)] });
  test('dNSName outside a permitted subtree → name_constraints (0); inside is fine', async () => {
    const i = constrained('CN=Example CA', [GN.dns('example.com')]);
    await check({ leaf: makeLeaf('CN=x', i, { sans: [GN.dns('evil.com')] }), roots: [root], intermediates: [i], expect: 'name_constraints', certIndex: 0 });
    await check({ leaf: makeLeaf('CN=y', i, { sans: [GN.dns('a.example.com')] }), roots: [root], intermediates: [i], expect: 'ok' });
  });
  test('dNSName in an excluded subtree → name_constraints', async () => {
    const i = constrained('CN=Excl CA', [], [GN.dns('bad.example.com')]);
    await check({ leaf: makeLeaf('CN=x', i, { sans: [GN.dns('x.bad.example.com')] }), roots: [root], intermediates: [i], expect: 'name_constraints' });
  });
  test('iPAddress ranges (IPv4 and IPv6 masks)', async () => {
    const i = constrained('CN=IP CA', [GN.ip('10.0.0.0/8'), GN.ip('fd00::/8')]);
    await check({ leaf: makeLeaf('CN=a', i, { sans: [GN.ip('10.1.2.3'), GN.ip('fd12::1')] }), roots: [root], intermediates: [i], expect: 'ok' });
    await check({ leaf: makeLeaf('CN=b', i, { sans: [GN.ip('192.168.1.1')] }), roots: [root], intermediates: [i], expect: 'name_constraints' });
    await check({ leaf: makeLeaf('CN=c', i, { sans: [GN.ip('::1')] }), roots: [root], intermediates: [i], expect: 'name_constraints' });
  });
  test('rfc822Name → name_constraints', async () => {
    const i = constrained('CN=Mail CA', [GN.email('example.com')]);
    await check({ leaf: makeLeaf('CN=m', i, { sans: [GN.email('a@evil.com')] }), roots: [root], intermediates: [i], expect: 'name_constraints' });
    await check({ leaf: makeLeaf('CN=n', i, { sans: [GN.email('a@example.com')] }), roots: [root], intermediates: [i], expect: 'ok' });
  });
  test('directoryName applies to the subject DN → name_constraints', async () => {
    const i = constrained('CN=Dir CA', [GN.dir('O=Good')]);
    await check({ leaf: makeLeaf('O=Evil,CN=x', i), roots: [root], intermediates: [i], expect: 'name_constraints', certIndex: 0 });
    await check({ leaf: makeLeaf('O=Good,CN=y', i), roots: [root], intermediates: [i], expect: 'ok' });
  });
  test('constraints on the root apply to the whole path', async () => {
    const r = makeRoot('CN=Constrained Root', { extra: [X.nameConstraints([GN.dns('example.com')])] });
    const i = makeIntermediate('CN=Int', r);
    await check({ leaf: makeLeaf('CN=x', i, { sans: [GN.dns('evil.com')] }), roots: [r], intermediates: [i], expect: 'name_constraints', certIndex: 0 });
  });
});

describe('extensions and encodings', () => {
  test('unknown critical extension on the leaf or an intermediate → unknown_critical_extension; non-critical is fine', async () => {
    await check(chain(makeLeaf('CN=u', inter, { extra: [X.unknown(true)] }), { expect: 'unknown_critical_extension', certIndex: 0 }));
    const i = makeIntermediate('CN=Odd Int', root, { extra: [X.unknown(true)] });
    await check({ leaf: makeLeaf('CN=x', i), roots: [root], intermediates: [i], expect: 'unknown_critical_extension', certIndex: 1 });
    await check(chain(makeLeaf('CN=v', inter, { extra: [X.unknown(false)] }), { expect: 'ok' }));
  });
  test('duplicate extension → duplicate_extension', async () => {
    await check(chain(makeLeaf('CN=dup', inter, { extra: [X.eku([EKU_SERVER])] }), { expect: 'duplicate_extension', certIndex: 0 }));
  });
  test('empty subjectAltName → empty_san', async () => {
    await check(chain(makeLeaf('CN=empty', inter, { sans: [] }), { expect: 'empty_san', certIndex: 0 }));
  });
  test('negative serial → bad_serial', async () => {
    await check(chain(makeLeaf('CN=neg', inter, { serial: Buffer.from([0xff, 0x01]) }), { expect: 'bad_serial', certIndex: 0, opensslDiffers: 'OpenSSL 3.0 accepts negative serials' }));
  });
  test('serial over 20 octets → bad_serial; exactly 20 is fine', async () => {
    await check(chain(makeLeaf('CN=long', inter, { serial: Buffer.alloc(21, 0x11) }), { expect: 'bad_serial', opensslDiffers: 'OpenSSL does not check serial length' }));
    await check(chain(makeLeaf('CN=twenty', inter, { serial: Buffer.concat([Buffer.from([0]), Buffer.alloc(20, 0x91)]) }), { expect: 'ok' }));
  });
});

describe('revocation', () => {
  test('serial listed in the issuer CRL → revoked (0)', async () => {
    const l = makeLeaf('CN=revoked', inter);
    await check(chain(l, { expect: 'revoked', certIndex: 0, crls: [makeCrl(inter, { revoked: [serialOf(l)] })] }));
    await check(chain(leaf, { expect: 'ok', crls: [makeCrl(inter, { revoked: [serialOf(l)] })] }));
  });
  test('CRL signed by another key → bad_crl', async () => {
    await check(chain(leaf, { expect: 'bad_crl', crls: [makeCrl(inter, { signWith: ecKey() })] }));
  });
  test('CRL past nextUpdate → crl_expired; before thisUpdate → crl_not_yet_valid', async () => {
    await check(chain(leaf, { expect: 'crl_expired', crls: [makeCrl(inter, { thisUpdate: new Date(now - 10 * DAY), nextUpdate: new Date(now - DAY) })] }));
    await check(chain(leaf, { expect: 'crl_not_yet_valid', crls: [makeCrl(inter, { thisUpdate: new Date(now + DAY), nextUpdate: new Date(now + 5 * DAY) })] }));
  });
  test('CRLs given but none from the leaf issuer → crl_missing (fail closed)', async () => {
    await check(chain(leaf, { expect: 'crl_missing', crls: [makeCrl(root)] }));
  });
  test('intermediate revoked by the root CRL → revoked (1) with crlPolicy all', async () => {
    const i = makeIntermediate('CN=Revoked Int', root);
    const l = makeLeaf('CN=x', i);
    await check({
      leaf: l, roots: [root], intermediates: [i], expect: 'revoked', certIndex: 1,
      crls: [makeCrl(i), makeCrl(root, { revoked: [serialOf(i)] })], options: { crlPolicy: 'all' },
    });
  });
});

describe('path building', () => {
  test('backtracks out of a dead end: same-named intermediate from an untrusted root tried first', async () => {
    const key = ecKey();
    const stranger = makeRoot('CN=Test Root,O=Elsewhere');
    const deadEnd = makeIntermediate('CN=Shared Int', stranger, { key });
    const good = makeIntermediate('CN=Shared Int', root, { key });
    const l = makeLeaf('CN=x', good);
    await check({ leaf: l, roots: [root], intermediates: [deadEnd, good], expect: 'ok', opensslDiffers: 'OpenSSL takes the first matching untrusted issuer and does not backtrack' });
    await check({ leaf: l, roots: [root], intermediates: [good, deadEnd], expect: 'ok' });
  });
  test('cross-signed: an expired cross-certificate is skipped for a valid path', async () => {
    const oldRoot = makeRoot('CN=Old Root');
    const newRoot = makeRoot('CN=New Root');
    const key = ecKey();
    const crossExpired = makeIntermediate('CN=New Root', oldRoot, { key: newRoot.key, notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) });
    const i = makeIntermediate('CN=Issuing CA', newRoot, { key });
    const l = makeLeaf('CN=x', i);
    const result = verifyChain(l.cert, { roots: [oldRoot.cert, newRoot.cert], intermediates: [crossExpired.cert, i.cert], purpose: 'any' });
    assert.ok(result.ok);
    assert.equal(result.path[2].fingerprint256, newRoot.cert.fingerprint256);
    // Only the old root trusted: the expired cross-certificate is the only way, and the reason says so.
    await check({ leaf: l, roots: [oldRoot], intermediates: [crossExpired, i], expect: 'expired', certIndex: 2 });
  });
  test('duplicate root subjects with different keys: matched by AKI/SKI and signature', async () => {
    const a = makeRoot('CN=Twin Root');
    const b = makeRoot('CN=Twin Root');
    const i = makeIntermediate('CN=Twin Int', b);
    await check({ leaf: makeLeaf('CN=x', i), roots: [a, b], intermediates: [i], expect: 'ok' });
  });
  test('path longer than maxDepth → path_too_long', async () => {
    const i1 = makeIntermediate('CN=Deep 1', root);
    const i2 = makeIntermediate('CN=Deep 2', i1);
    const l = makeLeaf('CN=deep', i2);
    await check({ leaf: l, roots: [root], intermediates: [i1, i2], expect: 'path_too_long', options: { maxDepth: 3 }, opensslArgs: ['-verify_depth', '1'] });
    await check({ leaf: l, roots: [root], intermediates: [i1, i2], expect: 'ok', options: { maxDepth: 4 } });
  });
  test('hostile bundle: 50 same-subject intermediates with the wrong keys end in bad_signature', () => {
    const bogus = Array.from({ length: 50 }, () => makeIntermediate('CN=Test Intermediate,O=SecureChat', root, { omit: ['2.5.29.14'], extra: [X.ski(inter.ski)] }).cert);
    const result = verifyChain(makeLeaf('CN=victim', inter).cert, { roots: [root.cert], intermediates: bogus, purpose: 'any' });
    assert.ok(!result.ok);
    assert.equal(result.reason, 'bad_signature');
  });
  test('hostile bundle: 50 mutually-issuing self-issued CAs exhaust the candidate budget → path_too_long', () => {
    const key = ecKey();
    const seed = makeRoot('CN=Loop', { key });
    const loop = Array.from({ length: 50 }, () => issue('CN=Loop', seed, [X.basicConstraints(true), X.keyUsage(32), X.ski(seed.ski)], { key }).cert);
    const l = makeLeaf('CN=victim', seed);
    const result = verifyChain(l.cert, { roots: [root.cert], intermediates: loop, purpose: 'any' });
    assert.ok(!result.ok);
    assert.equal(result.reason, 'path_too_long');
  });
});
