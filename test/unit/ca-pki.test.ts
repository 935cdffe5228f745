/**
 * The CA library (src/pki/ca.ts and friends), in-process: profiles checked with the real openssl,
 * failures checked for their code and for leaving the directory untouched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatError } from '../../src/errors.js';
import { initCa, issueCertificate, loadCa, readCaIndex, readPemCertificates, readPrivateKey, revokeCertificate, toPem, writeCrl } from '../../src/pki/ca.js';
import { parseTimeSpec } from '../../src/pki/duration.js';
import { parseSan, randomSerialHex } from '../../src/pki/profiles.js';
import { inspectPem } from '../../src/pki/inspect.js';

const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const text = (file: string): string => openssl('x509', '-in', file, '-noout', '-text');

function snapshot(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, name);
    if (statSync(p).isFile()) files.set(name, readFileSync(p));
  }
  return files;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof SecureChatError && err.code === code);
}

let base: string;
before(() => {
  base = mkdtempSync(join(tmpdir(), 'ca-unit-'));
});
after(() => rmSync(base, { recursive: true, force: true }));

describe('helpers', () => {
  test('durations and dates resolve relative to now; junk and the past are usage errors', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    assert.equal(parseTimeSpec('90d', now).toISOString(), '2030-04-01T00:00:00.000Z');
    assert.equal(parseTimeSpec('24h', now).toISOString(), '2030-01-02T00:00:00.000Z');
    assert.equal(parseTimeSpec('2031-06-01', now).toISOString(), '2031-06-01T00:00:00.000Z');
    assert.throws(() => parseTimeSpec('soon', now), (e: SecureChatError) => e.code === 'usage');
    assert.throws(() => parseTimeSpec('2029-01-01', now), (e: SecureChatError) => e.code === 'usage');
  });

  test('SANs: bare names and IPs are typed; invalid names and wildcards in the middle are refused', () => {
    assert.deepEqual(parseSan('Chat.Example.com'), { type: 'dns', value: 'chat.example.com' });
    assert.deepEqual(parseSan('::1'), { type: 'ip', value: '::1' });
    assert.deepEqual(parseSan('IP:10.0.0.1'), { type: 'ip', value: '10.0.0.1' });
    assert.deepEqual(parseSan('DNS:*.example.com'), { type: 'dns', value: '*.example.com' });
    for (const bad of ['IP:not-an-ip', 'a..b', 'foo.*.com', '-x.com', 'under_score.com']) {
      assert.throws(() => parseSan(bad), (e: SecureChatError) => e.code === 'usage', bad);
    }
  });

  test('serials are 16 bytes, positive and minimal', () => {
    for (let i = 0; i < 50; i++) {
      const s = Buffer.from(randomSerialHex(), 'hex');
      assert.equal(s.length, 16);
      assert.ok(s[0] > 0 && s[0] < 0x80);
    }
  });

  test('PEM helpers round-trip and reject junk', () => {
    const der = Buffer.from('3003020101', 'hex');
    assert.deepEqual(readPemCertificates('junk\n' + toPem(der, 'CERTIFICATE') + toPem(der, 'CERTIFICATE')), [der, der]);
    assert.throws(() => readPemCertificates('hello'), (e: SecureChatError) => e.code === 'bad_input');
    assert.throws(() => readPrivateKey('-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n'), (e: SecureChatError) => e.code === 'bad_input');
  });
});

describe('a CA with an encrypted key and an intermediate', () => {
  let dir: string;
  const passphrase = 'correct horse battery staple';
  before(async () => {
    dir = join(base, 'inter');
    await initCa({ dir, intermediate: true, passphrase });
  });

  test('CA profiles: root CA:true critical, intermediate pathlen 0 with AKI, keyCertSign+cRLSign critical', () => {
    const root = text(join(dir, 'root_ca.pem'));
    assert.match(root, /Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    assert.match(root, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(root, /Subject Key Identifier/);
    const inter = text(join(dir, 'intermediate_ca.pem'));
    assert.match(inter, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(inter, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(inter, /Authority Key Identifier/);
    assert.match(readFileSync(join(dir, 'root_ca_key.pem'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
    assert.equal(statSync(join(dir, 'root_ca_key.pem')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'intermediate_ca_key.pem')).mode & 0o777, 0o600);
  });

  test('the initial CRL file holds two signed, empty CRLs (intermediate, then root) with numbers', async () => {
    const items = await inspectPem(readFileSync(join(dir, 'crl.pem'), 'utf8'));
    const suffix = /^CN=SecureChat Root CA ([0-9a-f]{4})$/.exec(new X509Certificate(readFileSync(join(dir, 'root_ca.pem'))).subject)?.[1];
    assert.ok(suffix, 'the default root name carries a random 4-hex suffix');
    assert.deepEqual(items.map((i) => i.type === 'crl' && [i.issuer, i.revoked.length, i.crlNumber]), [
      [`CN=SecureChat Intermediate CA ${suffix}`, 0, '1'],
      [`CN=SecureChat Root CA ${suffix}`, 0, '1'],
    ]);
  });

  test('wrong or missing passphrase is bad_passphrase', async () => {
    await rejectsWith(loadCa(dir, 'wrong'), 'bad_passphrase');
    await rejectsWith(loadCa(dir), 'bad_passphrase');
  });

  test('init again without force is ca_exists and changes no byte', async () => {
    const before = snapshot(dir);
    await rejectsWith(initCa({ dir, unencrypted: true }), 'ca_exists');
    await rejectsWith(initCa({ dir, passphrase: 'another passphrase' }), 'ca_exists');
    assert.deepEqual(snapshot(dir), before);
  });

  test('a server leaf: chain file, profile, SANs, default 1 year, openssl -x509_strict as sslserver', async () => {
    const r = await issueCertificate({ dir, kind: 'server', name: 'chat.example.com', sans: ['IP:10.1.2.3'], passphrase });
    const certs = readPemCertificates(readFileSync(r.certPath, 'utf8'));
    assert.equal(certs.length, 2, 'leaf followed by the intermediate');
    const leaf = new X509Certificate(certs[0]);
    assert.equal(leaf.subjectAltName, 'DNS:chat.example.com, IP Address:10.1.2.3');
    const days = (new Date(leaf.validTo).getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 364 && days < 366, String(days));
    const t = text(r.certPath);
    assert.match(t, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(t, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(t, /Extended Key Usage:\s+TLS Web Server Authentication\n/);
    assert.match(t, /Authority Key Identifier/);
    assert.equal(statSync(r.keyPath!).mode & 0o777, 0o600);
    const out = openssl('verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'root_ca.pem'), '-untrusted', join(dir, 'intermediate_ca.pem'), r.certPath);
    assert.match(out, /OK/);
  });

  test('a CSR with a corrupted signature is bad_csr and nothing is written', async () => {
    const key = join(base, 'csr.key');
    const csrPath = join(base, 'csr.pem');
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csrPath, '-subj', '/CN=mallory');
    const der = pemBody(readFileSync(csrPath, 'utf8'));
    der[der.length - 1] ^= 0x01;
    const before = snapshot(dir);
    await rejectsWith(issueCertificate({ dir, kind: 'client', name: 'mallory', csrPem: toPem(der, 'CERTIFICATE REQUEST'), passphrase }), 'bad_csr');
    assert.deepEqual(snapshot(dir), before);
  });

  test('revoke by serial puts the serial with its reason in the intermediate CRL', async () => {
    const r = await issueCertificate({ dir, kind: 'client', name: 'carol', notAfter: '30d', passphrase });
    await revokeCertificate({ dir, target: r.serial, reason: 'superseded', passphrase });
    const entry = readCaIndex(dir).certificates.find((e) => e.serial === r.serial);
    assert.equal(entry?.status, 'revoked');
    assert.equal(entry?.reason, 'superseded');
    const [interCrl, rootCrl] = await inspectPem(readFileSync(join(dir, 'crl.pem'), 'utf8'));
    assert.ok(interCrl.type === 'crl' && rootCrl.type === 'crl');
    assert.deepEqual(interCrl.revoked.map((x) => [x.serial, x.reason]), [[r.serial, 'superseded']]);
    assert.equal(rootCrl.revoked.length, 0);
    await rejectsWith(revokeCertificate({ dir, target: r.serial, passphrase }), 'exists');
    await rejectsWith(revokeCertificate({ dir, target: 'ab'.repeat(10), passphrase }), 'not_found');
  });

  test('writeCrl increments the CRL number', async () => {
    const before = readCaIndex(dir).crlNumber;
    const r = await writeCrl({ dir, passphrase, nextUpdate: '2d' });
    assert.equal(r.crlNumber, before + 1);
  });
});

test('ed25519, p384 and rsa3072 CAs issue leaves openssl accepts (clientAuth, not serverAuth)', async () => {
  for (const keyType of ['ed25519', 'p384', 'rsa3072'] as const) {
    const dir = join(base, keyType);
    await initCa({ dir, keyType, unencrypted: true });
    // One RSA key generation is enough (they are slow): the RSA CA signs a P-256 leaf.
    const r = await issueCertificate({ dir, kind: 'client', name: 'dave', keyType: keyType === 'rsa3072' ? 'p256' : keyType });
    const verify = (purpose: string): number => {
      try {
        openssl('verify', '-x509_strict', '-purpose', purpose, '-CAfile', join(dir, 'root_ca.pem'), r.certPath);
        return 0;
      } catch {
        return 1;
      }
    };
    assert.equal(verify('sslclient'), 0, keyType);
    assert.equal(verify('sslserver'), 1, keyType);
  }
});

test('usage errors come before any work: bad username, SANs on a client, not-after past the CA', async () => {
  const dir = join(base, 'plain');
  await initCa({ dir, validity: '30d', unencrypted: true });
  await rejectsWith(issueCertificate({ dir, kind: 'client', name: 'not ok!' }), 'usage');
  await rejectsWith(issueCertificate({ dir, kind: 'client', name: 'eve', sans: ['x.com'] }), 'usage');
  await rejectsWith(issueCertificate({ dir, kind: 'client', name: 'eve', notAfter: '60d' }), 'usage');
  await rejectsWith(issueCertificate({ dir: join(base, 'nothing-here'), kind: 'client', name: 'eve' }), 'ca_missing');
  writeFileSync(join(dir, 'eve_cert.pem'), 'keep me');
  await rejectsWith(issueCertificate({ dir, kind: 'client', name: 'eve' }), 'exists');
  assert.equal(readFileSync(join(dir, 'eve_cert.pem'), 'utf8'), 'keep me');
});

function pemBody(pem: string): Buffer {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}
