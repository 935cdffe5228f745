import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContentType, RecordOpener, RecordSealer, TAG_SIZE } from '../../src/protocol/record.js';
import { decodeAppMessage, encodeAppMessage } from '../../src/protocol/app-payload.js';
import { SecureChatError } from '../../src/errors.js';

const keys = { key: Buffer.alloc(32, 1), iv: Buffer.alloc(12, 2) };
const payloadOf = (frame: Buffer) => frame.subarray(4);
const isBadRecord = (e: SecureChatError) => e.code === 'bad_record';

test('records round-trip in sequence; the frame length covers type byte, body and tag', () => {
  const sealer = new RecordSealer(keys);
  const opener = new RecordOpener(keys);
  for (const text of ['one', 'two', 'three']) {
    const frame = sealer.seal(ContentType.application, Buffer.from(text));
    assert.equal(frame.readUInt32BE(0), 1 + text.length + TAG_SIZE);
    assert.deepEqual(opener.open(payloadOf(frame)), { contentType: ContentType.application, body: Buffer.from(text) });
  }
});

test('replayed, reordered and dropped records fail authentication', () => {
  const sealer = new RecordSealer(keys);
  const [a, b, c] = ['a', 'b', 'c'].map((t) => payloadOf(sealer.seal(ContentType.application, Buffer.from(t))));
  const replay = new RecordOpener(keys);
  replay.open(a);
  assert.throws(() => replay.open(a), isBadRecord);
  assert.throws(() => new RecordOpener(keys).open(b), isBadRecord); // reordered / a dropped
  const dropped = new RecordOpener(keys);
  dropped.open(a);
  assert.throws(() => dropped.open(c), isBadRecord);
});

test('one flipped bit anywhere in ciphertext or tag fails', () => {
  const frame = payloadOf(new RecordSealer(keys).seal(ContentType.application, Buffer.from('secret')));
  for (let bit = 0; bit < frame.length * 8; bit++) {
    const tampered = Buffer.from(frame);
    tampered[bit >> 3] ^= 1 << (bit & 7);
    assert.throws(() => new RecordOpener(keys).open(tampered), isBadRecord, `bit ${bit}`);
  }
});

test('the header is authenticated: a shortened record fails', () => {
  const frame = payloadOf(new RecordSealer(keys).seal(ContentType.application, Buffer.from('secret')));
  assert.throws(() => new RecordOpener(keys).open(frame.subarray(0, frame.length - 1)), isBadRecord);
  assert.throws(() => new RecordOpener(keys).open(Buffer.alloc(TAG_SIZE)), isBadRecord);
});

test('the sender stops before the sequence limit', () => {
  const sealer = new RecordSealer(keys, 2);
  sealer.seal(ContentType.application, Buffer.from('1'));
  sealer.seal(ContentType.application, Buffer.from('2'));
  assert.throws(() => sealer.seal(ContentType.application, Buffer.from('3')), (e: SecureChatError) => e.code === 'bad_record' && e.reason === 'sequence_exhausted');
});

test('application payloads: JSON alone, or JSON header plus raw binary', () => {
  const plain = encodeAppMessage({ type: 'hello', n: 1 });
  assert.equal(plain.contentType, ContentType.application);
  assert.deepEqual(decodeAppMessage(plain.contentType, plain.body), { msg: { type: 'hello', n: 1 }, data: undefined });
  const bytes = Buffer.from([0, 255, 1, 2, 3]);
  const withData = encodeAppMessage({ type: 'file_chunk', seq: 0 }, bytes);
  assert.equal(withData.contentType, ContentType.applicationWithData);
  const json = Buffer.from(JSON.stringify({ type: 'file_chunk', seq: 0 }));
  assert.equal(withData.body.readUInt32BE(0), json.length);
  assert.deepEqual(withData.body.subarray(4 + json.length), bytes, 'data travels raw, not base64');
  assert.deepEqual(decodeAppMessage(withData.contentType, withData.body), { msg: { type: 'file_chunk', seq: 0 }, data: bytes });
  assert.throws(() => decodeAppMessage(ContentType.applicationWithData, Buffer.from([0, 0, 1, 0, 0x7b])), (e: SecureChatError) => e.code === 'malformed');
  assert.throws(() => decodeAppMessage(ContentType.application, Buffer.from('[1]')), (e: SecureChatError) => e.code === 'malformed');
  assert.throws(() => decodeAppMessage(ContentType.application, Buffer.from('{"x":1}')), (e: SecureChatError) => e.code === 'malformed');
});
