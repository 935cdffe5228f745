/**
 * PKCS#12 in both directions with openssl as the referee: what we build opens with
 * `openssl pkcs12` (non-ASCII password), and what openssl builds (default AES and -legacy) opens
 * with our parser. Wrong passwords and altered files are refused with the right code.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { SecureChatError } from '../../src/errors.js';
import { buildPkcs12, parsePkcs12 } from '../../src/pki/p12.js';
import { pkcs12Kdf } from '../../src/pki/pkcs12-kdf.js';
import { makeIntermediate, makeLeaf, makeRoot, type Fixture } from '../helpers/pki-fixtures.js';

const PASSWORD = 'p12 pässwörd ✓';
let base: string;
let passFile: string;
let root: Fixture;
let inter: Fixture;
let leaf: Fixture;
let keyFile: string;
let chainFile: string;

const openssl = (args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const isCode = (code: string) => (e: unknown) => e instanceof SecureChatError && e.code === code;
const pkcs8 = (f: Fixture): Buffer => f.key.privateKey.export({ format: 'der', type: 'pkcs8' });

before(() => {
  base = mkdtempSync(join(tmpdir(), 'ca-p12-'));
  passFile = join(base, 'pass');
  writeFileSync(passFile, PASSWORD + '\n');
  root = makeRoot('CN=P12 Root');
  inter = makeIntermediate('CN=P12 Intermediate', root);
  leaf = makeLeaf('CN=alice', inter);
  keyFile = join(base, 'alice_key.pem');
  chainFile = join(base, 'alice_chain.pem');
  writeFileSync(keyFile, leaf.key.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(chainFile, leaf.pem + inter.pem);
});
after(() => rmSync(base, { recursive: true, force: true }));

test('our PKCS#12 KDF agrees with node-forge\'s independent implementation (SHA-1 and SHA-256, multi-block output)', () => {
  const salt = Buffer.from('0a58cf64530d823f', 'hex');
  for (const [hash, md] of [['sha1', () => forge.md.sha1.create()], ['sha256', () => forge.md.sha256.create()]] as const) {
    for (const [id, length] of [[1, 24], [2, 8], [3, 32], [1, 70]] as const) {
      const theirs = Buffer.from(forge.pkcs12.generateKey(PASSWORD, forge.util.createBuffer(salt.toString('binary')), id, 1000, length, md()).getBytes(), 'binary');
      assert.deepEqual(pkcs12Kdf(hash, PASSWORD, salt, id, 1000, length), theirs, `${hash} id=${id} length=${length}`);
    }
  }
});

test('openssl pkcs12 opens what we build: the chain, the key, PBES2/PBKDF2 600k and a SHA-256 MAC at 600k', () => {
  const file = join(base, 'ours.p12');
  writeFileSync(file, buildPkcs12({ certificates: [leaf.der, inter.der], privateKey: pkcs8(leaf), password: PASSWORD, friendlyName: 'alice' }));
  const info = execFileSync('openssl', ['pkcs12', '-in', file, '-passin', `file:${passFile}`, '-info', '-nodes'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(info, /subject=CN = alice/);
  assert.match(info, /subject=CN = P12 Intermediate/);
  assert.match(info, /friendlyName: alice/);
  const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(info)?.[0];
  assert.ok(keyPem);
  assert.deepEqual(createPrivateKey(keyPem).export({ format: 'der', type: 'pkcs8' }), pkcs8(leaf));
  // -info describes the structure on stderr.
  const structure = execFileSync('sh', ['-c', `openssl pkcs12 -in '${file}' -passin 'file:${passFile}' -info -noout 2>&1`], { encoding: 'utf8' });
  assert.match(structure, /MAC: sha256, Iteration 600000/);
  assert.match(structure, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256/);
  assert.throws(() => openssl(['pkcs12', '-in', file, '-passin', 'pass:wrong', '-nodes']));
  // And our own reader opens it too.
  const parsed = parsePkcs12(readFileSync(file), PASSWORD);
  assert.deepEqual(parsed.certificates, [leaf.der, inter.der]);
  assert.deepEqual(parsed.privateKey, pkcs8(leaf));
  assert.equal(parsed.friendlyName, 'alice');
});

for (const variant of ['default', 'legacy'] as const) {
  test(`we open what openssl pkcs12 -export writes (${variant}), leaf first, with the key`, () => {
    const file = join(base, `openssl-${variant}.p12`);
    // The chain is given intermediate first: the parser must still put the key's certificate first.
    writeFileSync(join(base, 'reversed.pem'), inter.pem + leaf.pem);
    openssl([
      'pkcs12', '-export', '-in', join(base, 'reversed.pem'), '-inkey', keyFile, '-out', file, '-passout', `file:${passFile}`, '-name', 'Ålice', ...(variant === 'legacy' ? ['-legacy'] : []),
    ]);
    const parsed = parsePkcs12(readFileSync(file), PASSWORD);
    assert.deepEqual(parsed.certificates, [leaf.der, inter.der]);
    assert.deepEqual(parsed.privateKey, pkcs8(leaf));
    assert.equal(parsed.friendlyName, 'Ålice');
    assert.match(parsed.mac, variant === 'legacy' ? /HMAC-SHA1/ : /HMAC-SHA256/);
    assert.throws(() => parsePkcs12(readFileSync(file), 'wrong'), isCode('bad_passphrase'));
  });
}

test('an altered file fails the MAC (bad_passphrase); junk is bad_input', () => {
  const good = buildPkcs12({ certificates: [leaf.der], privateKey: pkcs8(leaf), password: PASSWORD, iterations: 2048 });
  const altered = Buffer.from(good);
  // Flip a byte inside the first certificate (well inside the authenticated safe).
  const at = altered.indexOf(leaf.der.subarray(40, 56));
  assert.ok(at > 0);
  altered[at] ^= 0x01;
  assert.throws(() => parsePkcs12(altered, PASSWORD), (e: unknown) => isCode('bad_passphrase')(e) && /MAC does not verify/.test((e as Error).message));
  assert.throws(() => parsePkcs12(Buffer.from('not a pfx'), PASSWORD), isCode('bad_input'));
  assert.equal(parsePkcs12(good, PASSWORD).mac, 'HMAC-SHA256, 2048 iterations');
});

test('the PKCS#12 reader and writer touch no file system (the browser import will reuse them)', () => {
  const srcDir = new URL('../../src/pki/', import.meta.url);
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(new URL(file, srcDir), 'utf8');
    assert.doesNotMatch(text, /from 'node:(fs|path|child_process|os)'|from '(fs|path)'/, `${file} imports the file system`);
    for (const m of text.matchAll(/from '\.\/([\w-]+)\.js'/g)) visit(`${m[1]}.ts`);
  };
  visit('p12.ts');
  assert.ok(seen.has('pbes2.ts') && seen.has('pkcs12-kdf.ts'), [...seen].join(','));
});
