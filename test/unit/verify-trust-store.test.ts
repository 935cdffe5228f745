/** TrustStore (the server/client hot-path object), PEM parsing, the DER cache, and the name matchers. */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SecureChatError } from '../../src/errors.js';
import { ParsedCert, parseCertificatesPem } from '../../src/pki/cert.js';
import { parseCrlsPem } from '../../src/pki/parsed-crl.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { dnsNameMatches, parseIpLiteral } from '../../src/pki/hostname.js';
import { EKU_CLIENT, GN, makeCrl, makeIntermediate, makeLeaf, makeRoot, serialOf, type Fixture } from '../helpers/pki-fixtures.js';

let root: Fixture;
let inter: Fixture;
let server: Fixture;
let client: Fixture;

before(() => {
  root = makeRoot('CN=Store Root');
  inter = makeIntermediate('CN=Store Int', root);
  server = makeLeaf('CN=localhost', inter, { sans: [GN.dns('localhost')] });
  client = makeLeaf('CN=alice', inter, { eku: [EKU_CLIENT], sans: [GN.email('alice@example.com')] });
});

function rejection(fn: () => unknown): SecureChatError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SecureChatError, String(err));
    return err;
  }
  assert.fail('expected a SecureChatError');
}

describe('TrustStore', () => {
  test('verifyDer returns the path for a valid chain and reuses parsed certificates', () => {
    const store = TrustStore.fromPem(root.pem);
    const path = store.verifyDer([server.der, inter.der], { purpose: 'server', hostname: 'localhost' });
    assert.deepEqual(path.map((c) => c.subject), ['CN=localhost', 'CN=Store Int', 'CN=Store Root']);
    // Same DER → same cached object, so signature results carry over between handshakes.
    assert.equal(ParsedCert.fromDer(Buffer.from(inter.der)), path[1]);
  });

  test('failures are SecureChatError bad_certificate with reason, certIndex and subject', () => {
    const store = TrustStore.fromPem(root.pem);
    const wrongPurpose = rejection(() => store.verifyDer([client.der, inter.der], { purpose: 'server' }));
    assert.equal(wrongPurpose.code, 'bad_certificate');
    assert.equal(wrongPurpose.reason, 'wrong_purpose');
    assert.deepEqual(wrongPurpose.details, { certIndex: 0, subject: 'CN=alice' });
    assert.equal(rejection(() => store.verifyDer([client.der], { purpose: 'client' })).reason, 'untrusted');
    assert.equal(rejection(() => store.verifyDer([], { purpose: 'client' })).reason, 'malformed');
    const garbage = rejection(() => store.verifyDer([client.der, Buffer.from('junk')], { purpose: 'client' }));
    assert.equal(garbage.reason, 'malformed');
    assert.equal(garbage.details?.certIndex, 1);
  });

  test('setCrls switches revocation on and follows reloads', () => {
    const store = new TrustStore({ roots: [root.cert] });
    assert.equal(store.verifyDer([client.der, inter.der], { purpose: 'client' }).length, 3);
    store.setCrls(parseCrlsPem(makeCrl(inter, { revoked: [serialOf(client)] }).pem));
    assert.equal(rejection(() => store.verifyDer([client.der, inter.der], { purpose: 'client' })).reason, 'revoked');
    store.setCrls([makeCrl(inter).crl]);
    assert.equal(store.verifyDer([client.der, inter.der], { purpose: 'client' }).length, 3);
  });

  test('a chain longer than twice the maximum depth is refused before any work', () => {
    const store = new TrustStore({ roots: [root.cert] });
    const err = rejection(() => store.verifyDer(Array(17).fill(inter.der), { purpose: 'any' }));
    assert.equal(err.reason, 'path_too_long');
  });
});

describe('PEM and DER parsing', () => {
  test('parseCertificatesPem reads several blocks and rejects garbage with bad_input', () => {
    assert.equal(parseCertificatesPem(`junk before\n${server.pem}${inter.pem}`).length, 2);
    assert.equal(rejection(() => parseCertificatesPem('hello')).code, 'bad_input');
    assert.equal(rejection(() => parseCertificatesPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).code, 'bad_input');
    assert.equal(rejection(() => parseCrlsPem(server.pem)).code, 'bad_input');
  });
  test('ParsedCert.fromDer rejects undecodable DER and trailing bytes as malformed', () => {
    for (const der of [Buffer.from('30030201', 'hex'), Buffer.concat([server.der, Buffer.from([0])])]) {
      const err = rejection(() => ParsedCert.fromDer(der));
      assert.equal(err.code, 'bad_certificate');
      assert.equal(err.reason, 'malformed');
    }
  });
  test('decoded fields', () => {
    const c = server.cert;
    assert.equal(c.commonName, 'localhost');
    assert.equal(c.version, 3);
    assert.equal(c.isCa, false);
    assert.match(c.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(c.fingerprint256, c.x509.fingerprint256);
    assert.equal(c.serialHex, c.x509.serialNumber.replace(/^(00)+/, ''));
    assert.deepEqual(c.subjectAltNames, [{ type: 'dns', value: 'localhost' }]);
  });
});

describe('name matching helpers', () => {
  test('IP literals normalise to bytes', () => {
    assert.deepEqual(parseIpLiteral('[::1]'), parseIpLiteral('0:0:0:0:0:0:0:1'));
    assert.deepEqual(parseIpLiteral('::ffff:10.0.0.1'), parseIpLiteral('::ffff:a00:1'));
    assert.equal(parseIpLiteral('10.0.0.256'), undefined);
    assert.equal(parseIpLiteral('example.com'), undefined);
  });
  test('wildcards', () => {
    assert.ok(dnsNameMatches('*.example.com', 'a.example.com'));
    assert.ok(dnsNameMatches('*.Example.com.', 'a.example.com'));
    assert.ok(!dnsNameMatches('*.example.com', 'a.b.example.com'));
    assert.ok(!dnsNameMatches('*.com', 'example.com'));
    assert.ok(!dnsNameMatches('a.*.example.com', 'a.b.example.com'));
    assert.ok(!dnsNameMatches('f*.example.com', 'foo.example.com'));
  });
});
