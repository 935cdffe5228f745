/**
 * The browser's server-chain check (src/pki/web-verify.ts, @peculiar/x509 + WebCrypto) gives the
 * same verdict and reason as the node validator (verifyChain) on the cases a client meets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import 'reflect-metadata';
import { verifyChain } from '../../src/pki/verify.js';
import { matchesServerName, verifyServerChainWeb } from '../../src/pki/web-verify.js';
import { DAY, EKU_CLIENT, GN, KU_KEY_ENCIPHERMENT, X, ecKey, makeIntermediate, makeLeaf, makeRoot, type Fixture } from '../helpers/pki-fixtures.js';

const root = makeRoot('CN=Root');
const inter = makeIntermediate('CN=Inter', root);
const otherRoot = makeRoot('CN=Other Root');

interface Case {
  name: string;
  chain: Fixture[];
  hostname?: string;
  roots?: Fixture[];
  want: string;
}

const cases: Case[] = [
  { name: 'good direct', chain: [makeLeaf('CN=localhost', root)], hostname: 'localhost', want: 'ok' },
  { name: 'good via intermediate', chain: [makeLeaf('CN=localhost', inter), inter], hostname: '127.0.0.1', want: 'ok' },
  { name: 'wrong root', chain: [makeLeaf('CN=localhost', root)], roots: [otherRoot], hostname: 'localhost', want: 'untrusted' },
  { name: 'missing intermediate', chain: [makeLeaf('CN=localhost', inter)], hostname: 'localhost', want: 'untrusted' },
  { name: 'expired', chain: [makeLeaf('CN=localhost', root, { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) })], hostname: 'localhost', want: 'expired' },
  { name: 'not yet valid', chain: [makeLeaf('CN=localhost', root, { notBefore: new Date(Date.now() + DAY) })], hostname: 'localhost', want: 'not_yet_valid' },
  { name: 'client-only EKU', chain: [makeLeaf('CN=localhost', root, { eku: [EKU_CLIENT] })], hostname: 'localhost', want: 'wrong_purpose' },
  { name: 'name mismatch', chain: [makeLeaf('CN=localhost', root)], hostname: 'chat.example.com', want: 'name_mismatch' },
  { name: 'forged signature', chain: [makeLeaf('CN=localhost', root, { signWith: ecKey() })], hostname: 'localhost', want: 'bad_signature' },
  { name: 'wildcard one label', chain: [makeLeaf('CN=localhost', root, { sans: [GN.dns('localhost'), GN.dns('*.example.com')] })], hostname: 'a.example.com', want: 'ok' },
  { name: 'wildcard two labels', chain: [makeLeaf('CN=localhost', root, { sans: [GN.dns('localhost'), GN.dns('*.example.com')] })], hostname: 'a.b.example.com', want: 'name_mismatch' },
  { name: 'issuer not a CA', chain: (() => { const notCa = makeLeaf('CN=Inter', root); return [makeLeaf('CN=localhost', notCa), notCa]; })(), hostname: 'localhost', want: 'not_ca' },
  { name: 'leaf keyUsage without digitalSignature', chain: [makeLeaf('CN=localhost', root, { keyUsage: KU_KEY_ENCIPHERMENT })], hostname: 'localhost', want: 'bad_key_usage' },
  { name: 'unknown critical extension', chain: [makeLeaf('CN=localhost', root, { extra: [X.unknown(true)] })], hostname: 'localhost', want: 'unknown_critical_extension' },
  { name: 'CN not among the SANs', chain: [makeLeaf('CN=server', root)], hostname: 'localhost', want: 'cn_not_in_san' },
  { name: 'unknown non-critical extension', chain: [makeLeaf('CN=localhost', root, { extra: [X.unknown(false)] })], hostname: 'localhost', want: 'ok' },
];

for (const c of cases) {
  test(`web-verify agrees with verifyChain: ${c.name}`, async () => {
    const roots = c.roots ?? [root];
    const node = verifyChain(c.chain[0].cert, { roots: roots.map((r) => r.cert), intermediates: c.chain.slice(1).map((f) => f.cert), purpose: 'server', hostname: c.hostname });
    const web = await verifyServerChainWeb(c.chain.map((f) => new Uint8Array(f.der)), { roots: roots.map((r) => new Uint8Array(r.der)), hostname: c.hostname });
    const verdict = (r: { ok: boolean; reason?: string }): string => (r.ok ? 'ok' : r.reason!);
    assert.equal(verdict(web), c.want, `web: ${JSON.stringify(web)}`);
    assert.equal(verdict(node), c.want, `node: ${JSON.stringify(node)}`);
  });
}

test('server-name matching: IPv6 forms, trailing dot, case, no CN fallback', () => {
  const sans = [{ type: 'ip', value: '::1' }, { type: 'dns', value: 'Chat.Example.com' }];
  assert.ok(matchesServerName(sans, '[::1]'));
  assert.ok(matchesServerName(sans, '0:0:0:0:0:0:0:1'));
  assert.ok(matchesServerName(sans, 'chat.example.com.'));
  assert.ok(!matchesServerName(sans, '127.0.0.1'));
  assert.ok(!matchesServerName(sans, '*.example.com'));
  assert.ok(!matchesServerName([{ type: 'ip', value: '1.2.3.4' }], '01.2.3.4'));
});
