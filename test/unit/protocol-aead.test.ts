/**
 * The record AEAD (src/protocol/aead.ts): the same vectors on every implementation that loads
 * (node always; native when `npm run build:native` built it), and native ≡ node byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import {
  aeadImplementation,
  createRecordAead,
  DEFAULT_NATIVE_WARMUP_RECORDS,
  liveNativeContexts,
  nativeAeadAvailable,
  selectAeadImplementation,
  setNativeWarmupRecords,
  sweepIdleContexts,
  type AeadImplementation,
} from '../../src/protocol/aead.js';
import { ContentType, RecordOpener, RecordSealer, TAG_SIZE } from '../../src/protocol/record.js';

const implementations: AeadImplementation[] = nativeAeadAvailable() ? ['node', 'native'] : ['node'];
const initial = aeadImplementation();

/** `native` here means the native binding from the first record (no node:crypto warm-up). */
function withImplementation<T>(which: AeadImplementation, fn: () => T, warmup = 0): T {
  selectAeadImplementation(which);
  setNativeWarmupRecords(warmup);
  try {
    return fn();
  } finally {
    selectAeadImplementation(initial);
    setNativeWarmupRecords(DEFAULT_NATIVE_WARMUP_RECORDS);
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

/** Frames for these bodies sealed one `seal` call each, concatenated (the reference for sealFrames). */
function framesOneByOne(sealer: RecordSealer, bodies: Buffer[]): Buffer {
  return Buffer.concat(bodies.map((b) => sealer.seal(ContentType.application, b)));
}

for (const which of implementations) {
  for (const warmup of which === 'native' ? [0, 3, DEFAULT_NATIVE_WARMUP_RECORDS] : [0]) {
    test(`${which}${which === 'native' ? ` (warm-up ${warmup})` : ''}: sealFrames writes the same bytes as one seal per record, in batches across the warm-up and over 64 bodies`, () => {
      withImplementation(
        which,
        () => {
          const keys = { key: randomBytes(32), iv: randomBytes(12) };
          const one = new RecordSealer(keys);
          const batched = new RecordSealer(keys);
          for (const count of [1, 2, 5, 64, 65, 130]) {
            const bodies = Array.from({ length: count }, (_, i) => randomBytes((i * 37) % 300));
            const expected = framesOneByOne(one, bodies);
            const out = Buffer.alloc(expected.length + 7, 0xaa);
            assert.equal(batched.sealFrames(ContentType.application, bodies, out, 3), expected.length);
            assert.deepEqual(out.subarray(3, 3 + expected.length), expected);
            assert.ok(out.subarray(0, 3).every((b) => b === 0xaa) && out.subarray(3 + expected.length).every((b) => b === 0xaa), 'nothing written outside');
          }
          assert.equal(batched.sequence, one.sequence);
          // And they open in order on the other side.
          const opener = new RecordOpener(keys);
          const frames = Buffer.alloc(2 * (4 + 1 + 5 + TAG_SIZE));
          const tail = [Buffer.from('hello'), Buffer.from('world')];
          new RecordSealer(keys).sealFrames(ContentType.application, tail, frames, 0);
          assert.deepEqual(opener.open(frames.subarray(4, 26)).body, tail[0]);
          assert.deepEqual(opener.open(frames.subarray(30)).body, tail[1]);
        },
        warmup,
      );
    });
  }
}

test('sealFrames checks the sequence limit for the whole batch before sealing any', () => {
  const sealer = new RecordSealer({ key: randomBytes(32), iv: randomBytes(12) }, 3);
  const out = Buffer.alloc(1024);
  assert.throws(() => sealer.sealFrames(ContentType.application, [Buffer.from('a'), Buffer.from('b'), Buffer.from('c'), Buffer.from('d')], out, 0), /sequence limit/);
  assert.equal(sealer.sequence, 0);
  assert.equal(sealer.sealFrames(ContentType.application, [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], out, 0), 3 * (4 + 1 + 1 + TAG_SIZE));
});

test('native and node seal the same record to the same bytes (when the native AEAD is built)', { skip: !nativeAeadAvailable() && 'native AEAD not built (npm run build:native)' }, () => {
  const keys = { key: randomBytes(32), iv: randomBytes(12) };
  const frames = implementations.map((which) => withImplementation(which, () => new RecordSealer(keys).seal(ContentType.applicationWithData, [Buffer.from('{"a":1}'), randomBytes(0)])));
  assert.deepEqual(frames[0], frames[1]);
});

test('native: a direction keeps a context only while busy; one idle for a whole sweep is freed and rebuilt', { skip: !nativeAeadAvailable() && 'native AEAD not built (npm run build:native)' }, () => {
  withImplementation('native', () => {
    const keys = { key: randomBytes(32), iv: randomBytes(12) };
    const sealer = new RecordSealer(keys);
    const opener = new RecordOpener(keys);
    // Contexts kept by the tests above (never erased) go in two sweeps.
    sweepIdleContexts();
    sweepIdleContexts();
    assert.equal(liveNativeContexts(), 0);
    const frames: Buffer[] = [];
    // The first records of a window use transient contexts: nothing is kept.
    for (let i = 0; i < 8; i++) frames.push(sealer.seal(ContentType.application, Buffer.from(`r${i}`)));
    assert.equal(liveNativeContexts(), 0);
    frames.push(sealer.seal(ContentType.application, Buffer.from('r8')));
    assert.equal(liveNativeContexts(), 1, 'a busy direction keeps one');
    sweepIdleContexts(); // used since the last sweep: kept
    assert.equal(liveNativeContexts(), 1);
    sweepIdleContexts(); // idle for a whole sweep: freed
    assert.equal(liveNativeContexts(), 0);
    for (let i = 9; i < 20; i++) frames.push(sealer.seal(ContentType.application, Buffer.from(`r${i}`)));
    assert.equal(liveNativeContexts(), 1, 'rebuilt (the window is still full)');
    frames.forEach((f, i) => assert.deepEqual(opener.open(f.subarray(4)).body, Buffer.from(`r${i}`)));
    assert.equal(liveNativeContexts(), 2);
    sealer.erase();
    opener.erase();
    assert.equal(liveNativeContexts(), 0);
  }, DEFAULT_NATIVE_WARMUP_RECORDS);
});
