/**
 * CA keys at rest: PBES2 encrypted PKCS#8 with the KDF parameters in the file, checked against
 * the real openssl in both directions, plus the limits that protect us from hostile parameters.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { EncryptedData, EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { SecureChatError } from '../../src/errors.js';
import { caKeyIsUnencrypted, caKeyProtection, initCa } from '../../src/pki/ca.js';
import { exportPrivateKeyPem, keyProtectionOf } from '../../src/pki/keys.js';
import { Pbes2Params, Pbkdf2Params, ScryptParams } from '../../src/pki/pbes2.js';
import { readPemBlocks, readPrivateKey } from '../../src/pki/pem.js';

const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const PASS = 'pässwörd für den CA-Schlüssel';

let base: string;
before(() => {
  base = mkdtempSync(join(tmpdir(), 'ca-keys-'));
  writeFileSync(join(base, 'pass'), PASS + '\n');
});
after(() => rmSync(base, { recursive: true, force: true }));

const isCode = (code: string) => (e: unknown) => e instanceof SecureChatError && e.code === code;

test('an exported key is PBES2 with scrypt N=2^14 r=8 p=5 + AES-256-CBC, parameters in the file', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = exportPrivateKeyPem(privateKey, PASS);
  const [block] = readPemBlocks(pem);
  assert.equal(block.label, 'ENCRYPTED PRIVATE KEY');
  const info = AsnConvert.parse(block.der, EncryptedPrivateKeyInfo);
  assert.equal(info.encryptionAlgorithm.algorithm, '1.2.840.113549.1.5.13');
  const pbes2 = AsnConvert.parse(info.encryptionAlgorithm.parameters!, Pbes2Params);
  assert.equal(pbes2.keyDerivationFunc.algorithm, '1.3.6.1.4.1.11591.4.11');
  assert.equal(pbes2.encryptionScheme.algorithm, '2.16.840.1.101.3.4.1.42');
  const scrypt = AsnConvert.parse(pbes2.keyDerivationFunc.parameters!, ScryptParams);
  assert.deepEqual([scrypt.costParameter, scrypt.blockSize, scrypt.parallelizationParameter, scrypt.salt.byteLength], [16384, 8, 5, 16]);
  assert.deepEqual(keyProtectionOf(pem), { encrypted: true, scheme: 'scrypt N=16384 r=8 p=5, aes-256-cbc', strong: true });
});

test('openssl pkey opens our scrypt key with -passin file: (non-ASCII passphrase) and refuses a wrong one', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const file = join(base, 'ours.pem');
  writeFileSync(file, exportPrivateKeyPem(privateKey, PASS));
  const pub = openssl('pkey', '-in', file, '-passin', `file:${join(base, 'pass')}`, '-pubout');
  assert.equal(pub, createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }));
  assert.throws(() => openssl('pkey', '-in', file, '-passin', 'pass:wrong', '-noout'));
});

test('we open keys openssl encrypted (scrypt and PBKDF2-SHA256), and report their strength', () => {
  const plain = join(base, 'plain.pem');
  openssl('genpkey', '-algorithm', 'ed25519', '-out', plain);
  const scryptFile = join(base, 'openssl-scrypt.pem');
  openssl('pkcs8', '-topk8', '-in', plain, '-out', scryptFile, '-scrypt', '-passout', `file:${join(base, 'pass')}`);
  const pbkdf2File = join(base, 'openssl-pbkdf2.pem');
  openssl('pkcs8', '-topk8', '-in', plain, '-out', pbkdf2File, '-v2', 'aes-256-cbc', '-v2prf', 'hmacWithSHA256', '-passout', `file:${join(base, 'pass')}`);
  for (const file of [scryptFile, pbkdf2File]) {
    const key = readPrivateKey(readFileSync(file, 'utf8'), PASS);
    assert.equal(key.asymmetricKeyType, 'ed25519', file);
    assert.throws(() => readPrivateKey(readFileSync(file, 'utf8'), 'wrong'), isCode('bad_passphrase'), file);
    assert.throws(() => readPrivateKey(readFileSync(file, 'utf8')), isCode('bad_passphrase'), file);
  }
  // openssl's -topk8 default is PBKDF2 with 2,048 iterations: readable, but flagged as weak.
  assert.equal(keyProtectionOf(readFileSync(pbkdf2File, 'utf8')).strong, false);
  assert.match(keyProtectionOf(readFileSync(pbkdf2File, 'utf8')).scheme!, /PBKDF2-HMAC-SHA256 2048 iterations/);
  assert.deepEqual(keyProtectionOf(readFileSync(plain, 'utf8')), { encrypted: false, strong: false });
});

test('PBKDF2 at 600,000 iterations counts as strong; hostile scrypt parameters are refused before any work', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = exportPrivateKeyPem(privateKey, PASS, { kind: 'pbkdf2' });
  assert.deepEqual(keyProtectionOf(pem), { encrypted: true, scheme: 'PBKDF2-HMAC-SHA256 600000 iterations, aes-256-cbc', strong: true });
  assert.equal(readPrivateKey(pem, PASS).asymmetricKeyType, 'ec');
  // N=2^20 r=8 needs 1 GiB: a file from elsewhere must not make us allocate that (nor spin on 10^9 PBKDF2 rounds).
  const forged = (kdf: AlgorithmIdentifier): string => {
    const encryptionScheme = new AlgorithmIdentifier({ algorithm: '2.16.840.1.101.3.4.1.42', parameters: AsnConvert.serialize(new OctetString(new Uint8Array(16))) });
    const alg = new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.5.13', parameters: AsnConvert.serialize(new Pbes2Params({ keyDerivationFunc: kdf, encryptionScheme })) });
    const der = AsnConvert.serialize(new EncryptedPrivateKeyInfo({ encryptionAlgorithm: alg, encryptedData: new EncryptedData(new Uint8Array(48)) }));
    return `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${Buffer.from(der).toString('base64')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
  };
  const salt = new OctetString(new Uint8Array(16));
  const scrypt = forged(new AlgorithmIdentifier({ algorithm: '1.3.6.1.4.1.11591.4.11', parameters: AsnConvert.serialize(new ScryptParams({ salt, costParameter: 2 ** 20, blockSize: 8, parallelizationParameter: 1 })) }));
  assert.throws(() => readPrivateKey(scrypt, PASS), (e: unknown) => isCode('bad_input')(e) && /scrypt parameters N=1048576/.test((e as Error).message));
  const pbkdf2 = forged(new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.5.12', parameters: AsnConvert.serialize(new Pbkdf2Params({ salt, iterationCount: 1_000_000_000 })) }));
  assert.throws(() => readPrivateKey(pbkdf2, PASS), (e: unknown) => isCode('bad_input')(e) && /1000000000 iterations/.test((e as Error).message));
});

test('ca init: encrypted by default, plaintext only when asked; caKeyIsUnencrypted tells them apart', async () => {
  const enc = join(base, 'enc');
  await initCa({ dir: enc, intermediate: true, passphrase: PASS });
  assert.deepEqual(caKeyProtection(enc).map((k) => [k.role, k.protection.encrypted, k.protection.strong]), [['root', true, true], ['intermediate', true, true]]);
  assert.equal(caKeyIsUnencrypted(enc), false);
  assert.match(openssl('pkey', '-in', join(enc, 'intermediate_ca_key.pem'), '-passin', `file:${join(base, 'pass')}`, '-noout', '-text'), /Private-Key: \(256 bit/);

  const dev = join(base, 'dev');
  await initCa({ dir: dev, unencrypted: true });
  assert.equal(caKeyIsUnencrypted(dev), true);
  assert.equal(caKeyIsUnencrypted(join(base, 'nothing-here')), false);

  await assert.rejects(initCa({ dir: join(base, 'neither') }), (e: unknown) => isCode('usage')(e) && /--no-passphrase/.test((e as Error).message));
  await assert.rejects(initCa({ dir: join(base, 'both'), unencrypted: true, passphrase: PASS }), isCode('usage'));
  await assert.rejects(initCa({ dir: join(base, 'short'), passphrase: 'short' }), isCode('usage'));
  // A prompt (function) is asked only after the directory check.
  let asked = 0;
  await assert.rejects(initCa({ dir: enc, passphrase: async () => (asked++, PASS) }), isCode('ca_exists'));
  assert.equal(asked, 0);
});
