/**
 * The step-like CA workflow, in-process: renew, revoke by serial prefix, CSR name checks, the
 * listing of authorities and expiring certificates, and CA names that never collide.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatError } from '../../src/errors.js';
import { initCa, issueCertificate, readCaIndex, revokeCertificate } from '../../src/pki/ca.js';
import { listCa } from '../../src/pki/ca-list.js';
import { findIndexEntry } from '../../src/pki/ca-store.js';
import { renewCertificate } from '../../src/pki/renew.js';
import { BACKDATE_MS } from '../../src/pki/issue.js';

const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const isCode = (code: string, message?: RegExp) => (e: unknown) => e instanceof SecureChatError && e.code === code && (!message || message.test(e.message));
const DAY = 86_400_000;

let base: string;
before(() => {
  base = mkdtempSync(join(tmpdir(), 'ca-flow-'));
});
after(() => rmSync(base, { recursive: true, force: true }));

test('default CA names carry a random suffix: two CAs never share a subject', async () => {
  const a = await initCa({ dir: join(base, 'a'), intermediate: true, unencrypted: true });
  const b = await initCa({ dir: join(base, 'b'), unencrypted: true });
  assert.match(a.rootName, /^SecureChat Root CA [0-9a-f]{4}$/);
  assert.equal(a.intermediateName, a.rootName.replace('Root', 'Intermediate'));
  assert.notEqual(a.rootName, b.rootName);
  const custom = await initCa({ dir: join(base, 'c'), intermediate: true, unencrypted: true, name: 'Example Root CA' });
  assert.deepEqual([custom.rootName, custom.intermediateName], ['Example Root CA', 'Example Intermediate CA']);
});

describe('a CA with an encrypted intermediate', () => {
  let dir: string;
  const passphrase = 'renewal passphrase';
  let asked = 0;
  const prompt = async (): Promise<string> => (asked++, passphrase);
  before(async () => {
    dir = join(base, 'flow');
    await initCa({ dir, intermediate: true, passphrase });
  });

  test('renew keeps subject, SANs and key; new serial and validity; the old one stays in the index', async () => {
    const old = await issueCertificate({ dir, kind: 'server', name: 'chat.example.com', sans: ['IP:10.0.0.7'], notAfter: '20d', passphrase });
    const oldCert = new X509Certificate(readFileSync(old.certPath));
    const renewAt = new Date(Date.now() + DAY);
    const r = await renewCertificate({ dir, certPath: old.certPath, passphrase, now: renewAt });
    const renewed = new X509Certificate(readFileSync(old.certPath));
    assert.equal(r.previousSerial, old.serial);
    assert.notEqual(renewed.serialNumber.toLowerCase(), oldCert.serialNumber.toLowerCase());
    assert.equal(renewed.subject, oldCert.subject);
    assert.equal(renewed.subjectAltName, 'DNS:chat.example.com, IP Address:10.0.0.7');
    assert.equal(renewed.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'), oldCert.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'));
    // Same lifetime as before, counted from the renewal's (backdated) start; certificates keep whole seconds.
    const lifetime = old.notAfter.getTime() - old.notBefore.getTime();
    const expected = renewAt.getTime() - BACKDATE_MS + lifetime;
    assert.ok(Math.abs(new Date(renewed.validTo).getTime() - expected) < 1000, `${renewed.validTo} vs ${new Date(expected).toISOString()}`);
    const index = readCaIndex(dir);
    assert.equal(index.certificates.find((e) => e.serial === r.serial)?.renewedFrom, old.serial);
    assert.equal(index.certificates.find((e) => e.serial === old.serial)?.status, 'valid');
    assert.match(openssl('verify', '-x509_strict', '-attime', String(Math.floor((Date.now() + DAY) / 1000)), '-purpose', 'sslserver', '-CAfile', join(dir, 'root_ca.pem'), '-untrusted', old.certPath, old.certPath), /OK/);
    // A leaf key is untouched by a plain renewal.
    assert.equal(r.keyPath, undefined);
  });

  test('renew --new-key writes a new key next to the certificate; --not-after sets the validity', async () => {
    const old = await issueCertificate({ dir, kind: 'client', name: 'bob', passphrase });
    const oldKey = readFileSync(old.keyPath!, 'utf8');
    const r = await renewCertificate({ dir, certPath: old.certPath, newKey: true, notAfter: '7d', passphrase });
    assert.equal(r.keyPath, old.keyPath);
    assert.notEqual(readFileSync(old.keyPath!, 'utf8'), oldKey);
    const cert = new X509Certificate(readFileSync(old.certPath));
    assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(old.keyPath!))));
    const days = (new Date(cert.validTo).getTime() - Date.now()) / DAY;
    assert.ok(days > 6.9 && days < 7.1, String(days));
    assert.equal(cert.subject, 'CN=bob');
  });

  test('renew refuses a revoked certificate, a doctored file and a certificate of another CA', async () => {
    const c = await issueCertificate({ dir, kind: 'client', name: 'carol', passphrase });
    const copy = join(base, 'carol-copy.pem');
    writeFileSync(copy, readFileSync(c.certPath));
    await assert.rejects(renewCertificate({ dir, certPath: c.certPath, keyType: 'p384', passphrase }), isCode('usage', /--new-key/));
    // Same serial, other bytes (here: a flipped signature bit): the CA renews only its own copy.
    const der = Buffer.from(readFileSync(c.certPath, 'utf8').split('-----END CERTIFICATE-----')[0].replace(/-----BEGIN CERTIFICATE-----|\s/g, ''), 'base64');
    der[der.length - 1] ^= 0x01;
    const doctored = join(base, 'carol-doctored.pem');
    writeFileSync(doctored, `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`);
    await assert.rejects(renewCertificate({ dir, certPath: doctored, passphrase }), isCode('bad_input', /does not match the CA's copy/));
    await revokeCertificate({ dir, target: c.certPath, passphrase });
    await assert.rejects(renewCertificate({ dir, certPath: copy, passphrase }), (e: unknown) => isCode('bad_certificate')(e) && (e as SecureChatError).reason === 'revoked');
    const other = await initCa({ dir: join(base, 'other'), unencrypted: true });
    const foreign = await issueCertificate({ dir: other.dir, kind: 'client', name: 'dan' });
    await assert.rejects(renewCertificate({ dir, certPath: foreign.certPath, passphrase }), isCode('not_found', /was not issued by the CA/));
  });

  test('revoke by a unique serial prefix; the passphrase is never asked for a target that does not resolve', async () => {
    const r1 = await issueCertificate({ dir, kind: 'client', name: 'erin', passphrase });
    asked = 0;
    await assert.rejects(revokeCertificate({ dir, target: 'ffff0000', passphrase: prompt }), isCode('not_found'));
    await assert.rejects(revokeCertificate({ dir, target: 'ab', passphrase: prompt }), isCode('usage', /at least 4 hex digits/));
    assert.equal(asked, 0);
    const r = await revokeCertificate({ dir, target: r1.serial.slice(0, 10).toUpperCase(), reason: 'superseded', passphrase: prompt });
    assert.equal(r.serial, r1.serial);
    assert.equal(asked, 1, 'asked once for both the root and the intermediate key');
    assert.equal(readCaIndex(dir).certificates.find((e) => e.serial === r1.serial)?.status, 'revoked');
  });

  test('an ambiguous prefix is a usage error that lists every candidate', () => {
    const index = readCaIndex(dir);
    const [a, b] = index.certificates;
    const forged = { ...index, certificates: [{ ...a, serial: 'abcd01' + a.serial.slice(6) }, { ...b, serial: 'abcd02' + b.serial.slice(6) }] };
    assert.throws(
      () => findIndexEntry(forged, 'abcd', dir),
      (e: unknown) =>
        isCode('usage', /prefix abcd is ambiguous; it matches 2 certificates:\n {2}abcd01\S+ {2}\S+/)(e) && (e as SecureChatError).details?.candidates instanceof Array,
    );
    assert.equal(findIndexEntry(forged, 'abcd02', dir).serial, forged.certificates[1].serial);
  });

  test('a CSR whose CN differs from the name is refused without force (before the key is read), signed with force', async () => {
    const key = join(base, 'csr.key');
    const csr = join(base, 'csr.pem');
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=bob');
    asked = 0;
    await assert.rejects(
      issueCertificate({ dir, kind: 'client', name: 'alice', csrPem: readFileSync(csr, 'utf8'), passphrase: prompt, certOut: join(base, 'x.pem') }),
      isCode('usage', /CSR asks for CN=bob, but the certificate would be issued to CN=alice.*--force/),
    );
    assert.equal(asked, 0);
    const r = await issueCertificate({ dir, kind: 'client', name: 'alice', csrPem: readFileSync(csr, 'utf8'), passphrase, force: true, certOut: join(base, 'x.pem') });
    assert.equal(r.subject, 'CN=alice');
    // The matching name needs no force.
    const ok = await issueCertificate({ dir, kind: 'client', name: 'bob', csrPem: readFileSync(csr, 'utf8'), passphrase, certOut: join(base, 'y.pem') });
    assert.equal(ok.subject, 'CN=bob');
  });
});

test('listCa: root and intermediate with key protection; what expires within 30 days is flagged', async () => {
  const dir = join(base, 'short-lived');
  await initCa({ dir, intermediate: true, unencrypted: true, validity: '50d' });
  await issueCertificate({ dir, kind: 'client', name: 'soon', notAfter: '10d' });
  await issueCertificate({ dir, kind: 'client', name: 'later', notAfter: '24d' });
  const listing = listCa(dir, new Date(Date.now() + 5 * DAY));
  assert.deepEqual(listing.authorities.map((a) => [a.role, a.state, a.key?.encrypted]), [['root', 'valid', false], ['intermediate', 'expiring', false]]);
  assert.equal(listing.unencryptedKeys, true);
  const bySubject = Object.fromEntries(listing.certificates.map((c) => [c.subject, [c.state, c.daysLeft]]));
  assert.deepEqual(bySubject['CN=soon'], ['expiring', 4]);
  assert.equal(bySubject['CN=later'][0], 'expiring');
  assert.equal(listCa(dir, new Date(Date.now() + 11 * DAY)).certificates.find((c) => c.subject === 'CN=soon')?.state, 'expired');
});
