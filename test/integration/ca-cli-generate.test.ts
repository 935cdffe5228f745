/**
 * `npm run generate-certs` output, judged by openssl: purposes, strict profile, key modes,
 * re-running, revocation against the published CRL, and the intermediate variant.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, runCli, runTool } from '../helpers/cli.js';

const run = promisify(execFile);
const generate = async (...args: string[]): Promise<string> =>
  (await run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/generate-certs.ts'), ...args], { cwd: REPO_ROOT })).stdout;

let base: string;
let dir: string;
let interDir: string;
let firstRun: string;

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'ca-gen-'));
  dir = join(base, 'certs');
  interDir = join(base, 'certs-inter');
  [firstRun] = await Promise.all([generate('--out', dir, '--users', 'alice,bob'), generate('--out', interDir, '--intermediate', '--users', 'alice')]);
});
after(() => rmSync(base, { recursive: true, force: true }));

const verify = (d: string, purpose: string, cert: string, ...extra: string[]) =>
  runTool('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', join(d, 'root_ca.pem'), ...extra, join(d, cert)]);

test('the promised files exist; every key file is mode 0600', () => {
  assert.match(firstRun, /Created a new development \(unencrypted\) CA .*\(SecureChat Root CA [0-9a-f]{4}\)/);
  assert.match(firstRun, /^WARNING: The CA keys in \S+ are NOT encrypted \(development CA\)/m);
  for (const stem of ['server', 'client', 'alice', 'bob']) {
    assert.ok(existsSync(join(dir, `${stem}_cert.pem`)), stem);
    assert.equal(statSync(join(dir, `${stem}_key.pem`)).mode & 0o777, 0o600, stem);
  }
  assert.equal(statSync(join(dir, 'root_ca_key.pem')).mode & 0o777, 0o600);
  assert.ok(existsSync(join(dir, 'crl.pem')));
});

test('openssl -x509_strict: server is sslserver, clients are sslclient, a client is NOT sslserver', () => {
  assert.equal(verify(dir, 'sslserver', 'server_cert.pem').code, 0);
  for (const c of ['client_cert.pem', 'alice_cert.pem', 'bob_cert.pem']) assert.equal(verify(dir, 'sslclient', c).code, 0, c);
  const wrong = verify(dir, 'sslserver', 'client_cert.pem');
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stdout + wrong.stderr, /unsuitable certificate purpose/);
  const sans = runTool('openssl', ['x509', '-in', join(dir, 'server_cert.pem'), '-noout', '-ext', 'subjectAltName']).stdout;
  assert.match(sans, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
});

test('re-running keeps the CA and every good certificate, issuing only the new user', async () => {
  const rootBefore = readFileSync(join(dir, 'root_ca.pem'));
  const aliceBefore = readFileSync(join(dir, 'alice_cert.pem'));
  const out = await generate('--out', dir, '--users', 'alice,bob,carol');
  assert.match(out, /Keeping the existing CA/);
  assert.match(out, /^WARNING: .*NOT encrypted/m, 'said again on every run');
  assert.match(out, /Issued .*carol_cert\.pem/);
  assert.doesNotMatch(out, /Issued .*(alice|bob|server|client)_cert\.pem/);
  assert.deepEqual(readFileSync(join(dir, 'root_ca.pem')), rootBefore);
  assert.deepEqual(readFileSync(join(dir, 'alice_cert.pem')), aliceBefore);
  assert.equal(verify(dir, 'sslclient', 'carol_cert.pem').code, 0);
});

test('a revoked certificate fails openssl -crl_check against the published crl.pem', async () => {
  const crlArgs = ['-crl_check', '-CRLfile', join(dir, 'crl.pem')];
  assert.equal(verify(dir, 'sslclient', 'bob_cert.pem', ...crlArgs).code, 0);
  const r = await runCli(['ca', 'revoke', join(dir, 'bob_cert.pem'), '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  const after = verify(dir, 'sslclient', 'bob_cert.pem', ...crlArgs);
  assert.notEqual(after.code, 0);
  assert.match(after.stdout + after.stderr, /certificate revoked/);
  assert.equal(verify(dir, 'sslclient', 'alice_cert.pem', ...crlArgs).code, 0);
});

test('--intermediate: server_cert.pem holds leaf + intermediate and the chain verifies with CRLs', () => {
  const chain = join(interDir, 'server_cert.pem');
  assert.equal((readFileSync(chain, 'utf8').match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
  const crl = ['-crl_check_all', '-CRLfile', join(interDir, 'crl.pem')];
  assert.equal(verify(interDir, 'sslserver', 'server_cert.pem', '-untrusted', chain, ...crl).code, 0);
  assert.equal(verify(interDir, 'sslclient', 'alice_cert.pem', '-untrusted', join(interDir, 'alice_cert.pem'), ...crl).code, 0);
  // Without the intermediate there is no path.
  assert.notEqual(verify(interDir, 'sslserver', 'server_cert.pem').code, 0);
});

test('--passphrase-file makes an encrypted CA; re-running without it (no terminal) fails clearly and writes nothing', async () => {
  const encDir = join(base, 'certs-enc');
  const pass = join(base, 'gen.pass');
  writeFileSync(pass, 'generate-certs passphrase\n');
  const out = await generate('--out', encDir, '--users', 'alice', '--passphrase-file', pass);
  assert.match(out, /Created a new encrypted CA/);
  assert.doesNotMatch(out, /WARNING/);
  assert.match(readFileSync(join(encDir, 'root_ca_key.pem'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
  assert.equal(verify(encDir, 'sslclient', 'alice_cert.pem').code, 0);
  const again = await run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/generate-certs.ts'), '--out', encDir, '--users', 'alice,zoe'], { cwd: REPO_ROOT }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
  assert.equal(again.code, 1);
  assert.match(again.stderr, /bad_passphrase: .*encrypted; pass --passphrase-file/);
  assert.ok(!existsSync(join(encDir, 'zoe_cert.pem')));
  const withIt = await generate('--out', encDir, '--users', 'alice,zoe', '--passphrase-file', pass);
  assert.match(withIt, /Issued .*zoe_cert\.pem/);
});
