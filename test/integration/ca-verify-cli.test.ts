/**
 * `securechat ca verify` as a real process: exit codes 0 / 1 / 2 and the --json documents.
 * The command is mounted on a minimal commander program (the same exit mapping as
 * src/cli/index.ts), so this test does not depend on the other commands' modules loading.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { D, DAY, EKU_CLIENT, EKU_SERVER, GN, TBS, X, derEncode, derParse, makeCrl, makeIntermediate, makeLeaf, makeRoot, serialOf } from '../helpers/pki-fixtures.js';
import { runCli, runTool } from '../helpers/cli.js';

const CA_VERIFY = fileURLToPath(new URL('../../src/cli/ca-verify.ts', import.meta.url));
const HARNESS = `
import { Command, CommanderError } from 'commander';
import { registerCaVerify } from ${JSON.stringify(CA_VERIFY)};
const program = new Command('securechat').exitOverride();
const ca = program.command('ca').exitOverride();
registerCaVerify(ca);
for (const c of ca.commands) c.exitOverride();
try {
  await program.parseAsync(process.argv.slice(1), { from: 'user' });
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  process.exitCode = err.code === 'commander.helpDisplayed' ? 0 : 2;
}
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', HARNESS, '--', ...args], { cwd: process.cwd() }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('securechat ca verify', () => {
  let rootPem: string;
  let chainPem: string;
  let revokedPem: string;
  let crlPem: string;
  let expiredIntPem: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ca-verify-cli-'));
    const root = makeRoot('CN=CLI Root', { notBefore: new Date(Date.now() - 30 * DAY) });
    const inter = makeIntermediate('CN=CLI Int', root);
    const leaf = makeLeaf('CN=chat.example.com', inter, { sans: [GN.dns('chat.example.com')] });
    const revoked = makeLeaf('CN=cli-revoked', inter);
    const oldInter = makeIntermediate('CN=CLI Old Int', root, { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    rootPem = file('root.pem', root.pem);
    chainPem = file('chain.pem', leaf.pem + inter.pem);
    revokedPem = file('revoked.pem', revoked.pem + inter.pem);
    crlPem = file('crl.pem', makeCrl(inter, { revoked: [serialOf(revoked)] }).pem);
    expiredIntPem = file('expired-int.pem', makeLeaf('CN=under-old', oldInter, { notBefore: new Date(Date.now() - 5 * DAY) }).pem + oldInter.pem);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('valid chain: exit 0, prints the path leaf first', async () => {
    const r = await run('ca', 'verify', chainPem, '--roots', rootPem, '--purpose', 'server', '--hostname', 'chat.example.com');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^OK: valid path/);
    assert.match(r.stdout, /0: CN=chat.example.com .*\n {2}1: CN=CLI Int .*\n {2}2: CN=CLI Root/);
  });

  test('--json on success', async () => {
    const r = await run('ca', 'verify', chainPem, '--roots', rootPem, '--crl', crlPem, '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.ok, true);
    assert.deepEqual(doc.path.map((c: { subject: string }) => c.subject), ['CN=chat.example.com', 'CN=CLI Int', 'CN=CLI Root']);
    assert.match(doc.path[0].notAfter, /^\d{4}-\d\d-\d\dT/);
  });

  test('revoked leaf: exit 1 with reason and certificate index in --json', async () => {
    const r = await run('ca', 'verify', revokedPem, '--roots', rootPem, '--crl', crlPem, '--json');
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.ok, false);
    assert.equal(doc.error.code, 'bad_certificate');
    assert.equal(doc.error.reason, 'revoked');
    assert.equal(doc.error.details.certIndex, 0);
    assert.equal(doc.error.details.subject, 'CN=cli-revoked');
  });

  test('expired intermediate: exit 1 naming certificate 1; --at before expiry makes it valid', async () => {
    const bad = await run('ca', 'verify', expiredIntPem, '--roots', rootPem);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad_certificate \(expired\).*certificate 1 \(CN=CLI Old Int\)/);
    const at = String(Math.floor((Date.now() - 3 * DAY) / 1000));
    const ok = await run('ca', 'verify', expiredIntPem, '--roots', rootPem, '--at', at, '--json');
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });

  test('wrong host name: exit 1 name_mismatch', async () => {
    const r = await run('ca', 'verify', chainPem, '--roots', rootPem, '--hostname', 'evil.example.com', '--json');
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.reason, 'name_mismatch');
  });

  test('usage errors and unreadable input: exit 2', async () => {
    const missing = await run('ca', 'verify', join(dir, 'missing.pem'), '--roots', rootPem, '--json');
    assert.equal(missing.code, 2);
    assert.equal(JSON.parse(missing.stdout).error.code, 'io_error');
    const garbage = await run('ca', 'verify', file('garbage.pem', 'not a certificate\n'), '--roots', rootPem, '--json');
    assert.equal(garbage.code, 2);
    assert.equal(JSON.parse(garbage.stdout).error.code, 'bad_input');
    const badTime = await run('ca', 'verify', chainPem, '--roots', rootPem, '--at', 'yesterday-ish', '--json');
    assert.equal(badTime.code, 2);
    assert.equal(JSON.parse(badTime.stdout).error.code, 'usage');
    assert.equal((await run('ca', 'verify', chainPem, '--roots', rootPem, '--purpose', 'bogus')).code, 2);
    assert.equal((await run('ca', 'verify', chainPem)).code, 2);
  });

  test('--max-depth N bounds the intermediates: N=1 with two is path_too_long (exit 1), N=2 is fine, garbage is exit 2', async () => {
    const root = makeRoot('CN=Depth Root');
    const i1 = makeIntermediate('CN=Depth Int 1', root);
    const i2 = makeIntermediate('CN=Depth Int 2', i1);
    const chain = file('deep.pem', makeLeaf('CN=deep.example.com', i2, { eku: [EKU_SERVER], sans: [GN.dns('deep.example.com')] }).pem + i2.pem + i1.pem);
    const roots = file('depth-root.pem', root.pem);
    const tooDeep = await run('ca', 'verify', chain, '--roots', roots, '--purpose', 'server', '--max-depth', '1', '--json');
    assert.equal(tooDeep.code, 1, tooDeep.stdout + tooDeep.stderr);
    assert.equal(JSON.parse(tooDeep.stdout).error.reason, 'path_too_long');
    assert.equal((await run('ca', 'verify', chain, '--roots', roots, '--purpose', 'server', '--max-depth', '2')).code, 0);
    const bad = await run('ca', 'verify', chain, '--roots', roots, '--max-depth', 'two', '--json');
    assert.equal(bad.code, 2);
    assert.equal(JSON.parse(bad.stdout).error.code, 'usage');
  });

  test('an issuer key that cannot be parsed is a certificate failure: exit 1 bad_public_key, not exit 2', async () => {
    const root = makeRoot('CN=Key Root');
    const broken = makeIntermediate('CN=Broken Key Int', root, {
      mutateTbs: (tbs) => {
        tbs.children![TBS.spki] = derParse(D.seq(D.seq(D.oid('1.2.840.113549.1.1.1'), derEncode({ tag: 0x05, content: Buffer.alloc(0) })), derEncode({ tag: 0x03, content: Buffer.from([0, 0x30, 0x00]) })));
      },
    });
    const chain = file('broken-key.pem', makeLeaf('CN=x.example.com', broken, { sans: [GN.dns('x.example.com')] }).pem + broken.pem);
    const r = await run('ca', 'verify', chain, '--roots', file('key-root.pem', root.pem), '--json');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.error.reason, 'bad_public_key');
    assert.equal(doc.error.details.certIndex, 1);
  });

  test('a hostile name-constraint load ends in name_constraints_too_complex (exit 1), not a hang', async () => {
    const root = makeRoot('CN=NC Root');
    const many = makeIntermediate('CN=Many NC', root, { extra: [X.nameConstraints(Array.from({ length: 400 }, (_, k) => GN.dns(`n${k}.example.com`)))] });
    const leaf = makeLeaf('CN=victim', many, { eku: [EKU_CLIENT], sans: Array.from({ length: 400 }, (_, k) => GN.dns(`n${k}.example.com`)) });
    const r = await run('ca', 'verify', file('nc-bomb.pem', leaf.pem + many.pem), '--roots', file('nc-root.pem', root.pem), '--json');
    assert.equal(r.code, 1, r.stderr);
    assert.equal(JSON.parse(r.stdout).error.reason, 'name_constraints_too_complex');
  });

  test('a CERTIFICATE block that does not decode is an invalid certificate (exit 1 malformed); no block at all stays exit 2', async () => {
    const root = makeRoot('CN=Enc Root');
    // A non-minimal serial (00 01) is beyond node:crypto's parser.
    const odd = makeLeaf('CN=odd', root, { serial: Buffer.from([0, 1]) });
    const r = await run('ca', 'verify', file('odd.pem', odd.pem), '--roots', file('enc-root.pem', root.pem), '--json');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(JSON.parse(r.stdout).error.reason, 'malformed');
  });

  test('certificates from `securechat ca init` / `ca issue` pass every rule and openssl verify -x509_strict', async () => {
    const ca = join(dir, 'issued-ca');
    assert.equal((await runCli(['ca', 'init', '--dir', ca, '--intermediate', '--no-passphrase'])).code, 0);
    // Mixed-case name and a non-canonical IPv6 literal: the CN must still be a byte-for-byte SAN copy.
    const server = await runCli(['ca', 'issue', 'server', 'Chat.Example.COM', '--dir', ca, '--san', 'IP:0:0::5', '--san', 'DNS:chat.internal']);
    assert.equal(server.code, 0, server.stderr);
    const ipServer = await runCli(['ca', 'issue', 'server', '0:0:0:0:0:0:0:7', '--dir', ca, '--out', join(ca, 'ip_cert.pem'), '--key-out', join(ca, 'ip_key.pem')]);
    assert.equal(ipServer.code, 0, ipServer.stderr);
    assert.equal((await runCli(['ca', 'issue', 'client', 'carol', '--dir', ca])).code, 0);
    const roots = join(ca, 'root_ca.pem');
    const crl = join(ca, 'crl.pem');
    const cases: [string, string, string, string][] = [
      [join(ca, 'Chat.Example.COM_cert.pem'), 'server', 'chat.example.com', 'sslserver'],
      [join(ca, 'ip_cert.pem'), 'server', '::7', 'sslserver'],
      [join(ca, 'carol_cert.pem'), 'client', '', 'sslclient'],
    ];
    for (const [cert, purpose, host, opensslPurpose] of cases) {
      const ours = await run('ca', 'verify', cert, '--roots', roots, '--crl', crl, '--purpose', purpose, ...(host ? ['--hostname', host] : []), '--max-depth', '1');
      assert.equal(ours.code, 0, `${cert}: ${ours.stdout}${ours.stderr}`);
      const [leafPem, ...rest] = readFileSync(cert, 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/);
      const leafFile = file(`ossl-leaf-${purpose}-${host || 'c'}.pem`, leafPem);
      const chainFile = file(`ossl-chain-${purpose}-${host || 'c'}.pem`, rest.join(''));
      const ossl = runTool('openssl', ['verify', '-x509_strict', '-purpose', opensslPurpose, '-CAfile', roots, '-untrusted', chainFile, '-CRLfile', crl, '-crl_check_all', leafFile]);
      assert.equal(ossl.code, 0, `${cert}: ${ossl.stdout}${ossl.stderr}`);
    }
  });

  test('--help shows an example', async () => {
    const r = await run('ca', 'verify', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Example[\s\S]*securechat ca verify/);
  });
});
