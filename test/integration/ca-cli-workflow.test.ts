/**
 * `securechat ca …` as processes, for the issue-13 workflow: keys encrypted by default (a real
 * terminal prompt through a pty, a passphrase file, or an explicit --no-passphrase), `ca list`,
 * `ca renew`, revocation by serial prefix, CSR name checks, and PKCS#12 in and out with openssl.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, runCli, runTool } from '../helpers/cli.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const PASS = 'ein langes Passwort für die CA';

let base: string;
let dir: string;
let passFile: string;
const withPass = (): string[] => ['--dir', dir, '--passphrase-file', passFile];

/**
 * Runs the CLI on a pseudo-terminal (python's pty module), answering each prompt in turn, and
 * returns everything the terminal showed: proof that the prompt exists and that it does not echo.
 */
function runOnTerminal(args: string[], answers: [prompt: string, answer: string][]): Promise<{ code: number; screen: string }> {
  const driver = `
import os, pty, sys, json
answers = json.loads(sys.argv[1]); argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
screen = b''
def read():
    global screen
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    if not chunk:
        return False
    screen += chunk
    return True
for prompt, answer in answers:
    while prompt.encode() not in screen:
        if not read():
            break
    os.write(fd, (answer + '\\r').encode())
while read():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(screen.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', driver, JSON.stringify(answers), process.execPath, '--import', 'tsx', ENTRY, ...args], { timeout: 60_000 }, (err, stdout) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, screen: stdout });
    });
  });
}

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'ca-flow-cli-'));
  dir = join(base, 'ca');
  passFile = join(base, 'ca.pass');
  writeFileSync(passFile, PASS + '\n');
  const r = await runCli(['ca', 'init', '--intermediate', ...withPass()]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(base, { recursive: true, force: true }));

test('ca init without a terminal needs --passphrase-file or --no-passphrase: exit 2, nothing written', async () => {
  const target = join(base, 'none');
  const r = await runCli(['ca', 'init', '--dir', target]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: usage: The CA keys are encrypted by default .*--passphrase-file FILE, or --no-passphrase/m);
  assert.ok(!existsSync(target));
  const both = await runCli(['ca', 'init', '--dir', target, '--no-passphrase', '--passphrase-file', passFile]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /contradict/);
});

test('the CA keys made by ca init --passphrase-file are scrypt-encrypted and open with openssl pkey -passin file:', async () => {
  for (const key of ['root_ca_key.pem', 'intermediate_ca_key.pem']) {
    assert.match(readFileSync(join(dir, key), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    assert.equal(runTool('openssl', ['pkey', '-in', join(dir, key), '-passin', `file:${passFile}`, '-noout']).code, 0, key);
    assert.notEqual(runTool('openssl', ['pkey', '-in', join(dir, key), '-passin', 'pass:wrong', '-noout']).code, 0, key);
  }
  // Every command that reads the key: without the file and without a terminal, a clear failure.
  const r = await runCli(['ca', 'issue', 'client', 'nobody', '--dir', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: bad_passphrase: The key is encrypted; pass --passphrase-file/m);
  const crl = await runCli(['ca', 'crl', '--dir', dir]);
  assert.equal(crl.code, 1);
  assert.match(crl.stderr, /bad_passphrase/);
});

test('on a terminal ca init asks twice without echoing, and a later command asks once', async () => {
  const target = join(base, 'prompted');
  const init = await runOnTerminal(['ca', 'init', '--dir', target], [
    ['New CA key passphrase:', 'typed on a terminal'],
    ['Repeat the passphrase:', 'typed on a terminal'],
  ]);
  assert.equal(init.code, 0, init.screen);
  assert.doesNotMatch(init.screen, /typed on a terminal/, 'the passphrase is not echoed');
  assert.match(init.screen, /keys encrypted/);
  assert.equal(runTool('openssl', ['pkey', '-in', join(target, 'root_ca_key.pem'), '-passin', 'pass:typed on a terminal', '-noout']).code, 0);

  const issue = await runOnTerminal(['ca', 'issue', 'client', 'tess', '--dir', target], [['CA key passphrase:', 'typed on a terminal']]);
  assert.equal(issue.code, 0, issue.screen);
  assert.match(issue.screen, /Issued client certificate CN=tess/);

  const mismatch = await runOnTerminal(['ca', 'init', '--dir', join(base, 'mismatch')], [
    ['New CA key passphrase:', 'first attempt here'],
    ['Repeat the passphrase:', 'second attempt here'],
  ]);
  assert.equal(mismatch.code, 2);
  assert.match(mismatch.screen, /The two passphrases differ/);
  assert.ok(!existsSync(join(base, 'mismatch', 'root_ca_key.pem')));
});

test('ca list shows the root and the intermediate with their key protection; a dev CA is marked', async () => {
  const r = await runCli(['ca', 'list', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^root\s+[0-9a-f]+\s+CN=SecureChat Root CA [0-9a-f]{4}\s+\S+\s+valid\s+key encrypted: scrypt N=16384 r=8 p=5, aes-256-cbc$/m);
  assert.match(r.stdout, /^intermediate\s+[0-9a-f]+\s+CN=SecureChat Intermediate CA [0-9a-f]{4}\s+\S+\s+valid\s+key encrypted: scrypt/m);
  const dev = join(base, 'dev');
  assert.equal((await runCli(['ca', 'init', '--dir', dev, '--no-passphrase'])).code, 0);
  const shortLived = await runCli(['ca', 'issue', 'client', 'brief', '--dir', dev, '--not-after', '12d']);
  assert.equal(shortLived.code, 0, shortLived.stderr);
  const listed = await runCli(['ca', 'list', '--dir', dev]);
  assert.match(listed.stdout, /^root\s+.*key NOT ENCRYPTED \(development CA\)$/m);
  assert.match(listed.stdout, /CN=brief\s+\S+\s+EXPIRES in 1[01]d/);
  assert.match(listed.stdout, /1 certificate\(s\) expire within 30 days: renew them with `securechat ca renew CERT/);
  const json = JSON.parse((await runCli(['ca', 'list', '--dir', dev, '--json'])).stdout) as {
    unencryptedKeys: boolean;
    authorities: { role: string; key: { encrypted: boolean } }[];
    certificates: { subject: string; state: string }[];
  };
  assert.equal(json.unencryptedKeys, true);
  assert.deepEqual(json.authorities.map((a) => [a.role, a.key.encrypted]), [['root', false]]);
  assert.equal(json.certificates.find((c) => c.subject === 'CN=brief')?.state, 'expiring');
});

test('ca renew: same subject and SANs, new serial; --new-key replaces the key; the result verifies with openssl', async () => {
  const issued = await runCli(['ca', 'issue', 'server', 'chat.example.com', '--san', 'IP:10.9.8.7', '--not-after', '40d', '--json', ...withPass()]);
  assert.equal(issued.code, 0, issued.stderr);
  const first = JSON.parse(issued.stdout) as { serial: string; certPath: string; keyPath: string };
  const oldKey = readFileSync(first.keyPath, 'utf8');
  const r = await runCli(['ca', 'renew', first.certPath, '--new-key', '--json', ...withPass()]);
  assert.equal(r.code, 0, r.stderr);
  const renewed = JSON.parse(r.stdout) as { serial: string; previousSerial: string; keyPath: string; sans: string[] };
  assert.equal(renewed.previousSerial, first.serial);
  assert.notEqual(renewed.serial, first.serial);
  assert.deepEqual(renewed.sans, ['DNS:chat.example.com', 'IP:10.9.8.7']);
  assert.equal(renewed.keyPath, first.keyPath);
  assert.notEqual(readFileSync(first.keyPath, 'utf8'), oldKey);
  assert.equal(statSync(first.keyPath).mode & 0o777, 0o600);
  const cert = new X509Certificate(readFileSync(first.certPath));
  assert.equal(cert.subject, 'CN=chat.example.com');
  assert.equal(cert.subjectAltName, 'DNS:chat.example.com, IP Address:10.9.8.7');
  assert.equal(cert.serialNumber.toLowerCase(), renewed.serial);
  assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(first.keyPath))));
  const verify = runTool('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'root_ca.pem'), '-untrusted', first.certPath, first.certPath]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('ca revoke by serial prefix; too short a prefix is exit 2; ca issue from a CSR with another CN refuses without --force', async () => {
  const issued = JSON.parse((await runCli(['ca', 'issue', 'client', 'pat', '--json', ...withPass()])).stdout) as { serial: string };
  const short = await runCli(['ca', 'revoke', issued.serial.slice(0, 2), ...withPass()]);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /at least 4 hex digits/);
  const r = await runCli(['ca', 'revoke', issued.serial.slice(0, 8), '--json', ...withPass()]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { serial: string }).serial, issued.serial);

  const key = join(base, 'req.key');
  const csr = join(base, 'req.csr');
  assert.equal(runTool('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=quinn']).code, 0);
  const refused = await runCli(['ca', 'issue', 'client', 'rowan', '--csr', csr, '--out', join(base, 'rowan.pem'), ...withPass()]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /The CSR asks for CN=quinn, but the certificate would be issued to CN=rowan\..*--force/);
  assert.ok(!existsSync(join(base, 'rowan.pem')));
  const forced = await runCli(['ca', 'issue', 'client', 'rowan', '--csr', csr, '--out', join(base, 'rowan.pem'), '--force', ...withPass()]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(new X509Certificate(readFileSync(join(base, 'rowan.pem'))).subject, 'CN=rowan');
});

test('PKCS#12 both ways: export opens with openssl (non-ASCII password); import reads openssl default and -legacy files', async () => {
  const user = JSON.parse((await runCli(['ca', 'issue', 'client', 'uma', '--json', ...withPass()])).stdout) as { certPath: string; keyPath: string };
  const pw = join(base, 'p12.pass');
  writeFileSync(pw, 'Pässwörter ☂ sind lang\n');
  const ours = join(base, 'uma.p12');
  assert.equal((await runCli(['ca', 'export-p12', user.certPath, '--key', user.keyPath, '--out', ours, '--password-file', pw])).code, 0);
  const opened = runTool('openssl', ['pkcs12', '-in', ours, '-passin', `file:${pw}`, '-nodes']);
  assert.equal(opened.code, 0, opened.stderr);
  assert.match(opened.stdout, /subject=CN = uma/);

  const originalKey = createPrivateKey(readFileSync(user.keyPath)).export({ format: 'der', type: 'pkcs8' });
  for (const [name, extra] of [['ours', null], ['default', []], ['legacy', ['-legacy']]] as const) {
    const file = extra === null ? ours : join(base, `uma-${name}.p12`);
    if (extra !== null) {
      const made = runTool('openssl', ['pkcs12', '-export', '-in', user.certPath, '-inkey', user.keyPath, '-out', file, '-passout', `file:${pw}`, ...extra]);
      assert.equal(made.code, 0, made.stderr);
    }
    const outCert = join(base, `imported-${name}_cert.pem`);
    const outKey = join(base, `imported-${name}_key.pem`);
    const r = await runCli(['ca', 'import-p12', file, '--out-cert', outCert, '--out-key', outKey, '--password-file', pw, '--json']);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as { subject: string }).subject, 'CN=uma');
    assert.deepEqual(createPrivateKey(readFileSync(outKey)).export({ format: 'der', type: 'pkcs8' }), originalKey, name);
    assert.equal(statSync(outKey).mode & 0o777, 0o600);
    const verify = runTool('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'root_ca.pem'), '-untrusted', outCert, outCert]);
    assert.equal(verify.code, 0, `${name}: ${verify.stdout}${verify.stderr}`);
  }
  const wrong = join(base, 'wrong.pass');
  writeFileSync(wrong, 'nope\n');
  const bad = await runCli(['ca', 'import-p12', ours, '--out-cert', join(base, 'w_cert.pem'), '--out-key', join(base, 'w_key.pem'), '--password-file', wrong]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: bad_passphrase: Wrong password, or the PKCS#12 file was altered/m);
  assert.ok(!existsSync(join(base, 'w_key.pem')));
});

/** Starts `securechat serve` on CERTS, returns what it printed up to "listening", and stops it. */
async function serveOutput(certs: string, tag: string): Promise<string> {
  const server = spawn(
    process.execPath,
    [
      '--import', 'tsx', ENTRY, 'serve', '--port', '0', '--no-generate', '--certs', certs,
      '--db', `sqlite:${join(base, `${tag}.db`)}`, '--log-file', join(base, `${tag}.log`),
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        output += d.toString();
        if (/listening on 127\.0\.0\.1:\d+/.test(output)) resolve();
      };
      server.stdout.on('data', onData);
      server.stderr.on('data', onData);
      server.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
    });
  } finally {
    server.kill('SIGTERM');
    if (server.exitCode === null) await once(server, 'exit');
  }
  return output;
}

test('serve warns at every start while the CA key beside it is unencrypted, and not for an encrypted CA', async () => {
  const dev = join(base, 'serve-dev');
  const enc = join(base, 'serve-enc');
  assert.equal((await runCli(['ca', 'init', '--dir', dev, '--no-passphrase'])).code, 0);
  assert.equal((await runCli(['ca', 'init', '--dir', enc, '--passphrase-file', passFile])).code, 0);
  for (const d of [dev, enc]) {
    const r = await runCli(['ca', 'issue', 'server', 'localhost', '--dir', d, '--out', join(d, 'server_cert.pem'), '--key-out', join(d, 'server_key.pem'), '--passphrase-file', passFile]);
    assert.equal(r.code, 0, r.stderr);
  }
  for (let start = 1; start <= 2; start++) {
    assert.match(await serveOutput(dev, `dev${start}`), /The CA keys in \S+serve-dev are NOT encrypted \(development CA\)/, `start ${start}`);
  }
  assert.doesNotMatch(await serveOutput(enc, 'enc'), /NOT encrypted/);
});

test('ca change-passphrase encrypts a development CA, then re-keys it; the old passphrase stops working', async () => {
  const d = join(base, 'rekey');
  assert.equal((await runCli(['ca', 'init', '--dir', d, '--intermediate', '--no-passphrase'])).code, 0);
  const noNew = await runCli(['ca', 'change-passphrase', '--dir', d]);
  assert.equal(noNew.code, 2);
  assert.match(noNew.stderr, /--new-passphrase-file FILE/);
  const first = await runCli(['ca', 'change-passphrase', '--dir', d, '--new-passphrase-file', passFile]);
  assert.equal(first.code, 0, first.stderr);
  assert.match((await runCli(['ca', 'list', '--dir', d])).stdout, /^intermediate\s.*key encrypted: scrypt/m);
  assert.equal(runTool('openssl', ['pkey', '-in', join(d, 'intermediate_ca_key.pem'), '-passin', `file:${passFile}`, '-noout']).code, 0);
  const next = join(base, 'next.pass');
  writeFileSync(next, 'the next CA passphrase\n');
  const second = await runCli(['ca', 'change-passphrase', '--dir', d, '--passphrase-file', passFile, '--new-passphrase-file', next]);
  assert.equal(second.code, 0, second.stderr);
  assert.equal((await runCli(['ca', 'issue', 'client', 'old', '--dir', d, '--passphrase-file', passFile])).code, 1);
  assert.equal((await runCli(['ca', 'issue', 'client', 'new', '--dir', d, '--passphrase-file', next])).code, 0);
});

test('ca revoke with an ambiguous serial prefix: exit 2, every candidate listed (text and --json), nothing revoked', async () => {
  const d = join(base, 'ambiguous');
  assert.equal((await runCli(['ca', 'init', '--dir', d, '--no-passphrase'])).code, 0);
  for (const user of ['ann', 'ben']) assert.equal((await runCli(['ca', 'issue', 'client', user, '--dir', d])).code, 0);
  // Random 128-bit serials almost never share 4 digits; give two of them a common prefix in the index.
  const indexFile = join(d, 'index.json');
  const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { certificates: { serial: string; subject: string }[] };
  index.certificates.forEach((e, i) => (e.serial = `abcd0${i}` + e.serial.slice(6)));
  writeFileSync(indexFile, JSON.stringify(index));
  const r = await runCli(['ca', 'revoke', 'ABCD', '--dir', d]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: usage: The serial prefix abcd is ambiguous; it matches 2 certificates:$/m);
  for (const e of index.certificates) assert.match(r.stderr, new RegExp(`^ {2}${e.serial} {2}CN=${e.subject.slice(3)} {2}valid$`, 'm'));
  const json = await runCli(['ca', 'revoke', 'abcd', '--dir', d, '--json']);
  assert.equal(json.code, 2);
  const err = (JSON.parse(json.stdout) as { error: { details: { candidates: { serial: string }[] } } }).error;
  assert.deepEqual(err.details.candidates.map((c) => c.serial), index.certificates.map((e) => e.serial));
  assert.ok((JSON.parse(readFileSync(indexFile, 'utf8')) as { certificates: { status: string }[] }).certificates.every((e) => e.status === 'valid'));
});
