/**
 * `securechat ca …` as a user runs it (a child process), with openssl as the referee: exit codes,
 * messages, files left untouched on failure, CSR signing, revocation and PKCS#12.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runTool } from '../helpers/cli.js';

let base: string;
let dir: string;
let pass: string;
const caArgs = (): string[] => ['--dir', dir, '--passphrase-file', pass];

function snapshot(d: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(d, { recursive: true }) as string[]) {
    const p = join(d, name);
    if (statSync(p).isFile()) files.set(name, readFileSync(p));
  }
  return files;
}

function opensslVerify(cert: string, ...extra: string[]) {
  return runTool('openssl', ['verify', '-x509_strict', '-CAfile', join(dir, 'root_ca.pem'), '-untrusted', join(dir, 'intermediate_ca.pem'), ...extra, cert]);
}

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'ca-cli-'));
  dir = join(base, 'ca');
  pass = join(base, 'ca.pass');
  writeFileSync(pass, 'a long CA passphrase\n');
  const r = await runCli(['ca', 'init', '--intermediate', ...caArgs()]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(base, { recursive: true, force: true }));

test('ca init on an existing CA: exit 1 ca_exists, every byte unchanged', async () => {
  const before = snapshot(dir);
  const r = await runCli(['ca', 'init', '--dir', dir, '--no-passphrase']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: ca_exists: .*--force/m);
  assert.deepEqual(snapshot(dir), before);
});

test('a wrong passphrase: exit 1 bad_passphrase, nothing written', async () => {
  const wrong = join(base, 'wrong.pass');
  writeFileSync(wrong, 'not it\n');
  const before = snapshot(dir);
  const r = await runCli(['ca', 'issue', 'client', 'zed', '--dir', dir, '--passphrase-file', wrong]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: bad_passphrase: /m);
  assert.deepEqual(snapshot(dir), before);
});

test('a CSR made by openssl req is signed; the key never leaves its owner', async () => {
  const key = join(base, 'bob.key');
  const csr = join(base, 'bob.csr');
  assert.equal(runTool('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=bob']).code, 0);
  const r = await runCli(['ca', 'issue', 'client', 'bob', '--csr', csr, '--json', ...caArgs()]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; certPath: string; keyPath?: string };
  assert.equal(out.ok, true);
  assert.equal(out.keyPath, undefined);
  assert.ok(!existsSync(join(dir, 'bob_key.pem')));
  assert.equal(opensslVerify(out.certPath, '-purpose', 'sslclient').code, 0);
  // The certificate carries the CSR's key: openssl pairs them.
  const certPub = runTool('openssl', ['x509', '-in', out.certPath, '-noout', '-pubkey']).stdout;
  const keyPub = runTool('openssl', ['pkey', '-in', key, '-pubout']).stdout;
  assert.equal(certPub, keyPub);
});

test('a CSR with a corrupted signature: exit 1 bad_csr, nothing written', async () => {
  const csr = readFileSync(join(base, 'bob.csr'), 'utf8');
  const der = Buffer.from(csr.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 1] ^= 0xff;
  const bad = join(base, 'bad.csr');
  writeFileSync(bad, `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`);
  const before = snapshot(dir);
  const r = await runCli(['ca', 'issue', 'client', 'mallory', '--csr', bad, ...caArgs()]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: bad_csr: .*signature/m);
  assert.deepEqual(snapshot(dir), before);
});

test('garbage PEM and missing files: exit 2 with a clear message', async () => {
  const junk = join(base, 'junk.pem');
  writeFileSync(junk, 'this is not PEM\n');
  const missing = await runCli(['ca', 'inspect', join(base, 'nope.pem')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^error: io_error: The file .*nope\.pem does not exist\./m);
  const garbage = await runCli(['ca', 'issue', 'client', 'x', '--csr', junk, ...caArgs()]);
  assert.equal(garbage.code, 2);
  assert.match(garbage.stderr, /^error: bad_input: No PEM CERTIFICATE REQUEST/m);
  const badFlag = await runCli(['ca', 'issue', 'client', 'x', '--not-after', 'whenever', ...caArgs()]);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--not-after "whenever"/);
});

test('revocation: openssl -crl_check passes before, fails after; list and inspect show it', async () => {
  const issued = await runCli(['ca', 'issue', 'client', 'alice', ...caArgs()]);
  assert.equal(issued.code, 0, issued.stderr);
  const cert = join(dir, 'alice_cert.pem');
  assert.equal(statSync(join(dir, 'alice_key.pem')).mode & 0o777, 0o600);
  assert.equal(opensslVerify(cert, '-purpose', 'sslclient', '-crl_check_all', '-CRLfile', join(dir, 'crl.pem')).code, 0);

  const revoked = await runCli(['ca', 'revoke', cert, '--reason', 'keyCompromise', ...caArgs()]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const after = opensslVerify(cert, '-purpose', 'sslclient', '-crl_check_all', '-CRLfile', join(dir, 'crl.pem'));
  assert.notEqual(after.code, 0);
  assert.match(after.stdout + after.stderr, /certificate revoked/);

  const list = await runCli(['ca', 'list', '--dir', dir, '--json']);
  const entries = (JSON.parse(list.stdout) as { certificates: { subject: string; status: string; reason?: string }[] }).certificates;
  const alice = entries.find((e) => e.subject === 'CN=alice');
  assert.equal(alice?.status, 'revoked');
  assert.equal(alice?.reason, 'keyCompromise');
  const table = await runCli(['ca', 'list', '--dir', dir]);
  assert.match(table.stdout, /CN=alice\s+\S+\s+revoked \d{4}-\d\d-\d\d keyCompromise/);

  const crl = await runCli(['ca', 'crl', '--next-update', '2d', ...caArgs(), '--json']);
  assert.equal(crl.code, 0, crl.stderr);
  const inspected = await runCli(['ca', 'inspect', join(dir, 'crl.pem')]);
  assert.equal(inspected.code, 0);
  assert.match(inspected.stdout, /CRL:\s+CN=SecureChat Intermediate CA [0-9a-f]{4}[\s\S]*Revoked:\s+[0-9a-f]+ \S+ keyCompromise/);
});

test('export-p12 writes a bundle openssl pkcs12 opens with the password (and not without)', async () => {
  const issued = await runCli(['ca', 'issue', 'server', 'localhost', ...caArgs()]);
  assert.equal(issued.code, 0, issued.stderr);
  const pw = join(base, 'p12.pass');
  writeFileSync(pw, 'p12 pässword\n');
  const out = join(base, 'server.p12');
  const r = await runCli(['ca', 'export-p12', join(dir, 'localhost_cert.pem'), '--key', join(dir, 'localhost_key.pem'), '--out', out, '--password-file', pw]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const opened = runTool('openssl', ['pkcs12', '-in', out, '-passin', `file:${pw}`, '-nodes']);
  assert.equal(opened.code, 0, opened.stderr);
  assert.match(opened.stdout, /subject=CN = localhost/);
  assert.match(opened.stdout, /subject=CN = SecureChat Intermediate CA/);
  assert.match(opened.stdout, /BEGIN PRIVATE KEY/);
  assert.notEqual(runTool('openssl', ['pkcs12', '-in', out, '-passin', 'pass:wrong', '-nodes']).code, 0);

  const again = await runCli(['ca', 'export-p12', join(dir, 'localhost_cert.pem'), '--key', join(dir, 'alice_key.pem'), '--out', join(base, 'x.p12'), '--password-file', pw]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /is not the key of/);
});
