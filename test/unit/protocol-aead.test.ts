/**
 * The record AEAD (src/protocol/aead.ts): the same vectors on every implementation that loads
 * (node always; native when `npm run build:native` built it), and native ≡ node byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { aeadImplementation, createRecordAead, nativeAeadAvailable, selectAeadImplementation, type AeadImplementation } from '../../src/protocol/aead.js';
import { ContentType, RecordOpener, RecordSealer, TAG_SIZE } from '../../src/protocol/record.js';

const implementations: AeadImplementation[] = nativeAeadAvailable() ? ['node', 'native'] : ['node'];
const initial = aeadImplementation();

function withImplementation<T>(which: AeadImplementation, fn: () => T): T {
  selectAeadImplementation(which);
  try {
    return fn();
  } finally {
    selectAeadImplementation(initial);
  }
}

/** Reference: contentType ‖ parts under AES-256-GCM straight from node:crypto, tag appended. */
function reference(key: Buffer, nonce: Buffer, aad: Buffer, contentType: number, parts: Buffer[]): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  return Buffer.concat([c.update(Buffer.of(contentType)), ...parts.map((p) => c.update(p)), c.final(), c.getAuthTag()]);
}

// NIST GCM test vector (gcmEncryptExtIV256, Count 0 with AAD): key, IV, PT, AAD → CT, tag.
const NIST = {
  key: Buffer.from('92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b', 'hex'),
  iv: Buffer.from('ac93a1a6145299bde902f21a', 'hex'),
  pt: Buffer.from('2d71bcfa914e4ac045b2aa60955fad24', 'hex'),
  aad: Buffer.from('1e0889016f67601c8ebea4943bc23ad6', 'hex'),
  ct: Buffer.from('8995ae2e6df3dbf96fac7b7137bae67f', 'hex'),
  tag: Buffer.from('eca5aa77d51d4a0a14d9c51e1da474ab', 'hex'),
};

for (const which of implementations) {
  test(`${which}: the NIST vector (first plaintext byte passed as the content type)`, () => {
    withImplementation(which, () => {
      const sealer = createRecordAead(Buffer.from(NIST.key), true);
      const out = Buffer.alloc(2 + NIST.pt.length + TAG_SIZE);
      const n = sealer.seal(NIST.iv, NIST.aad, out, 2, NIST.pt[0], [NIST.pt.subarray(1, 7), NIST.pt.subarray(7)]);
      assert.equal(n, NIST.pt.length + TAG_SIZE);
      assert.deepEqual(out.subarray(2), Buffer.concat([NIST.ct, NIST.tag]));
      const opener = createRecordAead(Buffer.from(NIST.key), false);
      assert.deepEqual(opener.open(NIST.iv, NIST.aad, Buffer.concat([NIST.ct, NIST.tag])), NIST.pt);
    });
  });

  test(`${which}: random records equal the node:crypto reference; any flipped bit or other AAD fails`, () => {
    withImplementation(which, () => {
      for (let i = 0; i < 50; i++) {
        const key = randomBytes(32);
        const nonce = randomBytes(12);
        const aad = randomBytes(4);
        const parts = Array.from({ length: 1 + (i % 4) }, (_, k) => randomBytes((i * 37 + k * 101) % 3000));
        const expected = reference(key, nonce, aad, i % 256, parts);
        const out = Buffer.alloc(expected.length);
        createRecordAead(Buffer.from(key), true).seal(nonce, aad, out, 0, i % 256, parts);
        assert.deepEqual(out, expected);
        const opener = createRecordAead(Buffer.from(key), false);
        assert.deepEqual(opener.open(nonce, aad, expected), Buffer.concat([Buffer.of(i % 256), ...parts]));
        const bit = (i * 7919) % (expected.length * 8);
        const tampered = Buffer.from(expected);
        tampered[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(opener.open(nonce, aad, tampered), false);
        assert.deepEqual(tampered.subarray(0, expected.length - TAG_SIZE).length, expected.length - TAG_SIZE, 'the payload is not resized');
        const otherAad = Buffer.from(aad);
        otherAad[0] ^= 0x80;
        assert.equal(opener.open(nonce, otherAad, expected), false);
      }
    });
  });

  test(`${which}: records round-trip through RecordSealer/RecordOpener; an erased state refuses`, () => {
    withImplementation(which, () => {
      const keys = { key: randomBytes(32), iv: randomBytes(12) };
      const sealer = new RecordSealer(keys);
      const opener = new RecordOpener(keys);
      const seen: Buffer[] = [];
      let opened = 0;
      for (const body of [Buffer.alloc(0), Buffer.from('hello'), randomBytes(70_000)]) {
        const frame = sealer.seal(ContentType.application, [body.subarray(0, 3), body.subarray(3)]);
        const payload = frame.subarray(4);
        const copy = Buffer.from(payload);
        assert.deepEqual(opener.open(payload), { contentType: ContentType.application, body });
        assert.deepEqual(payload, copy, 'opening leaves the frame as it was');
        // In place (the channel's way): same result; only the ciphertext bytes may be overwritten.
        const inPlaceOpener = new RecordOpener(keys);
        for (let k = 0; k < opened; k++) inPlaceOpener.open(Buffer.from(seen[k]), true);
        assert.deepEqual(inPlaceOpener.open(Buffer.from(copy), true), { contentType: ContentType.application, body });
        seen.push(copy);
        opened++;
      }
      sealer.erase();
      assert.throws(() => sealer.seal(ContentType.application, Buffer.from('x')));
    });
  });
}

test('native and node seal the same record to the same bytes (when the native AEAD is built)', { skip: !nativeAeadAvailable() && 'native AEAD not built (npm run build:native)' }, () => {
  const keys = { key: randomBytes(32), iv: randomBytes(12) };
  const frames = implementations.map((which) => withImplementation(which, () => new RecordSealer(keys).seal(ContentType.applicationWithData, [Buffer.from('{"a":1}'), randomBytes(0)])));
  assert.deepEqual(frames[0], frames[1]);
});
