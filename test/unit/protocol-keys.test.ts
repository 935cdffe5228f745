import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hkdfSync } from 'node:crypto';
import { computeSharedSecret, deriveHandshakeSecrets, hkdfExpand, hkdfExtract, keyShareFromPrivate, LABELS } from '../../src/protocol/keys.js';
import { recordNonce } from '../../src/protocol/record.js';
import { SecureChatError } from '../../src/errors.js';

const hex = (s: string) => Buffer.from(s, 'hex');

test('HKDF Extract+Expand matches RFC 5869 test case 1', () => {
  const prk = hkdfExtract(hex('000102030405060708090a0b0c'), hex('0b'.repeat(22)));
  assert.equal(prk.toString('hex'), '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
  // Expand with a string label agrees with node's one-shot HKDF.
  const ours = hkdfExpand(prk, LABELS.clientHsKey, 42);
  const node = Buffer.from(hkdfSync('sha256', hex('0b'.repeat(22)), hex('000102030405060708090a0b0c'), Buffer.from(LABELS.clientHsKey), 42));
  assert.deepEqual(ours, node);
});

test('X25519 matches RFC 7748 §6.1', () => {
  const alice = keyShareFromPrivate(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  const bob = keyShareFromPrivate(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
  assert.equal(alice.publicRaw.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(bob.publicRaw.toString('hex'), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = computeSharedSecret(alice.privateKey, bob.publicRaw);
  assert.equal(shared.toString('hex'), '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
});

test('a low-order key share (all-zero secret) is refused', () => {
  const alice = keyShareFromPrivate(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  assert.throws(() => computeSharedSecret(alice.privateKey, Buffer.alloc(32)), (e: SecureChatError) => e.code === 'malformed' && e.reason === 'bad_key_share');
  assert.throws(() => computeSharedSecret(alice.privateKey, Buffer.alloc(31)), (e: SecureChatError) => e.code === 'malformed');
});

test('client and server directions get distinct keys and IVs', () => {
  const s = deriveHandshakeSecrets(Buffer.alloc(32, 9), Buffer.from('{"a":1}'), Buffer.from('{"b":2}'));
  const all = [s.client.key, s.server.key, s.client.finishedKey, s.server.finishedKey].map((b) => b.toString('hex'));
  assert.equal(new Set(all).size, 4);
  assert.notDeepEqual(s.client.iv, s.server.iv);
});

test('record nonce = IV XOR 64-bit big-endian sequence in the low 8 bytes', () => {
  const iv = hex('000102030405060708090a0b');
  assert.equal(recordNonce(iv, 0).toString('hex'), '000102030405060708090a0b');
  assert.equal(recordNonce(iv, 1).toString('hex'), '000102030405060708090a0a');
  assert.equal(recordNonce(iv, 0x0102030405).toString('hex'), '0001020304050606' + '0a0a0e0e');
  assert.equal(recordNonce(Buffer.alloc(12), 2 ** 48 - 1).toString('hex'), '000000000000ffffffffffff');
});
