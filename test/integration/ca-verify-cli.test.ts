/**
 * `securechat ca verify` as a real process: exit codes 0 / 1 / 2 and the --json documents.
 * The command is mounted on a minimal commander program (the same exit mapping as
 * src/cli/index.ts), so this test does not depend on the other commands' modules loading.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAY, GN, makeCrl, makeIntermediate, makeLeaf, makeRoot, serialOf } from '../helpers/pki-fixtures.js';

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
    const leaf = makeLeaf('CN=cli-server', inter, { sans: [GN.dns('chat.example.com')] });
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
    assert.match(r.stdout, /0: CN=cli-server .*\n {2}1: CN=CLI Int .*\n {2}2: CN=CLI Root/);
  });

  test('--json on success', async () => {
    const r = await run('ca', 'verify', chainPem, '--roots', rootPem, '--crl', crlPem, '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.ok, true);
    assert.deepEqual(doc.path.map((c: { subject: string }) => c.subject), ['CN=cli-server', 'CN=CLI Int', 'CN=CLI Root']);
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

  test('--help shows an example', async () => {
    const r = await run('ca', 'verify', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Example[\s\S]*securechat ca verify/);
  });
});
