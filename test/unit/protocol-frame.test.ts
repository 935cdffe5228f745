import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, encodeFrame } from '../../src/protocol/frame.js';
import { SecureChatError } from '../../src/errors.js';

const frames = [Buffer.from('a'), Buffer.from('hello world'), Buffer.alloc(300, 7)];
const wire = Buffer.concat(frames.map(encodeFrame));

test('encodeFrame prefixes a 4-byte big-endian length', () => {
  assert.deepEqual(encodeFrame(Buffer.from('abc')), Buffer.from([0, 0, 0, 3, 0x61, 0x62, 0x63]));
});

test('decoder yields the same frames for every split point and byte-by-byte', () => {
  for (let split = 0; split <= wire.length; split++) {
    const d = new FrameDecoder(1024);
    const out = [...d.push(wire.subarray(0, split)), ...d.push(wire.subarray(split))];
    assert.deepEqual(out, frames, `split at ${split}`);
    assert.equal(d.pendingBytes, 0);
  }
  const d = new FrameDecoder(1024);
  const out: Buffer[] = [];
  for (const byte of wire) out.push(...d.push(Buffer.of(byte)));
  assert.deepEqual(out, frames);
});

test('a partial frame stays pending', () => {
  const d = new FrameDecoder(1024);
  assert.deepEqual(d.push(wire.subarray(0, 7)), [Buffer.from('a')]);
  assert.equal(d.pendingBytes, 2);
});

test('zero length is malformed', () => {
  const d = new FrameDecoder(1024);
  assert.throws(() => d.push(Buffer.from([0, 0, 0, 0])), (e: SecureChatError) => e.code === 'malformed');
  // The decoder stays failed: the stream is out of sync.
  assert.throws(() => d.push(encodeFrame(Buffer.from('x'))), (e: SecureChatError) => e.code === 'malformed');
});

test('over-limit length is rejected from the header alone', () => {
  const d = new FrameDecoder(1024);
  assert.throws(() => d.push(Buffer.from([0, 0, 4, 1])), (e: SecureChatError) => e.code === 'frame_too_large');
  assert.equal(d.pendingBytes, 0);
});

test('a header announcing 4 GiB is rejected before any body byte or allocation', () => {
  const d = new FrameDecoder();
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => d.push(Buffer.from([0xff, 0xff, 0xff, 0xff])), (e: SecureChatError) => e.code === 'frame_too_large' && e.details?.length === 0xffffffff);
  // Nothing near the announced size was allocated (generous bound: 64 MiB).
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
});

test('frames before a bad header in the same chunk are returned first; the error waits in failure', () => {
  const d = new FrameDecoder(1024);
  const out = d.push(Buffer.concat([encodeFrame(Buffer.from('ok')), Buffer.from([0xff, 0xff, 0xff, 0xff])]));
  assert.deepEqual(out, [Buffer.from('ok')]);
  assert.equal(d.failure?.code, 'frame_too_large');
  assert.throws(() => d.push(Buffer.from('x')), (e: SecureChatError) => e.code === 'frame_too_large');
});

test('exactly maxFrameSize is accepted', () => {
  const d = new FrameDecoder(16);
  assert.deepEqual(d.push(encodeFrame(Buffer.alloc(16, 1))), [Buffer.alloc(16, 1)]);
});

test('the early (handshake) bound holds for the first frames only, decided from each header', () => {
  const d = new FrameDecoder(1024, { frames: 2, maxFrameSize: 16 });
  // Two handshake frames at the early bound, then a record far above it: all fine, in one chunk.
  const wireFrames = [Buffer.alloc(16, 1), Buffer.alloc(16, 2), Buffer.alloc(1000, 3)];
  assert.deepEqual(d.push(Buffer.concat(wireFrames.map(encodeFrame))), wireFrames);
  assert.throws(() => d.push(Buffer.from([0, 0, 4, 1])), (e: SecureChatError) => e.code === 'frame_too_large');

  const early = new FrameDecoder(1024, { frames: 2, maxFrameSize: 16 });
  assert.deepEqual(early.push(encodeFrame(Buffer.alloc(16))), [Buffer.alloc(16)]);
  // The second frame's header alone is enough to refuse it, with the handshake's own code.
  assert.throws(() => early.push(Buffer.from([0, 0, 0, 17])), (e: SecureChatError) => e.code === 'handshake_frame_too_large' && e.details?.maxFrameSize === 16);
  assert.equal(early.pendingBytes, 0);

  const huge = new FrameDecoder(1 << 20, { frames: 2, maxFrameSize: 64 * 1024 });
  assert.throws(() => huge.push(Buffer.from([0xff, 0xff, 0xff, 0xff])), (e: SecureChatError) => e.code === 'handshake_frame_too_large' && e.details?.length === 0xffffffff);
  assert.throws(() => new FrameDecoder(1024, { frames: 1, maxFrameSize: 16 }).push(Buffer.from([0, 0, 0, 0])), (e: SecureChatError) => e.code === 'malformed');
});
