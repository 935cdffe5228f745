import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonDepth, parseAuthMessage, parseClientHello, parseServerHello } from '../../src/protocol/messages.js';
import { SecureChatError } from '../../src/errors.js';

const b64 = (n: number, fill = 1) => Buffer.alloc(n, fill).toString('base64');
const good = { type: 'client_hello', version: 1, nonce: b64(32), timestamp: 1_700_000_000_000, key_share: b64(32, 9) };
const enc = (o: unknown) => Buffer.from(JSON.stringify(o));
const code = (c: string, reason?: string) => (e: SecureChatError) => e.code === c && (reason === undefined || e.reason === reason);

test('a valid client_hello parses to buffers', () => {
  const h = parseClientHello(enc(good));
  assert.equal(h.nonce.length, 32);
  assert.equal(h.keyShare[0], 9);
  assert.equal(h.timestamp, good.timestamp);
  assert.equal(parseClientHello(enc({ ...good, client_id: 'cli/1' })).clientId, 'cli/1');
});

test('wrong types, missing and unknown fields are malformed', () => {
  const cases: Array<[string, unknown]> = [
    ['timestamp string', { ...good, timestamp: '1' }],
    ['timestamp float', { ...good, timestamp: 1.5 }],
    ['nonce number', { ...good, nonce: 5 }],
    ['nonce short', { ...good, nonce: b64(16) }],
    ['nonce not base64', { ...good, nonce: '!'.repeat(44) }],
    ['nonce non-canonical', { ...good, nonce: b64(32).slice(0, -2) + 'B=' }],
    ['key_share array', { ...good, key_share: [1, 2] }],
    ['version string', { ...good, version: '1' }],
    ['unknown field', { ...good, extra: true }],
    ['client_id too long', { ...good, client_id: 'x'.repeat(500) }],
  ];
  for (const [name, hello] of cases) assert.throws(() => parseClientHello(enc(hello)), code('malformed'), name);
  for (const field of ['nonce', 'timestamp', 'key_share']) {
    const { [field as keyof typeof good]: _drop, ...rest } = good;
    assert.throws(() => parseClientHello(enc(rest)), code('malformed', 'missing_field'), field);
  }
});

test('non-JSON, non-object, invalid UTF-8 and oversize input are malformed', () => {
  assert.throws(() => parseClientHello(Buffer.from('{"type":')), code('malformed', 'not_json'));
  assert.throws(() => parseClientHello(Buffer.from('[]')), code('malformed'));
  assert.throws(() => parseClientHello(Buffer.from([0x7b, 0xff, 0x7d])), code('malformed', 'not_utf8'));
  assert.throws(() => parseClientHello(enc({ ...good, pad: 'x'.repeat(20_000) })), code('malformed', 'too_large'));
});

test('deep nesting is refused before JSON.parse', () => {
  const deep = '{"type":"client_hello","version":1,"nonce":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
  assert.throws(() => parseClientHello(Buffer.from(deep)), code('malformed', 'too_deep'));
  assert.equal(jsonDepth('{"a":"[[[[{{{"}'), 1, 'brackets inside strings do not count');
  assert.equal(jsonDepth('{"a":"\\"[[","b":[[1]]}'), 3);
});

test('any version other than 1 is unsupported_version, checked before the other fields', () => {
  for (const version of [0, 2, 99]) {
    assert.throws(() => parseClientHello(enc({ type: 'client_hello', version, future: 'field' })), code('unsupported_version'));
  }
});

test('a message of the wrong type is unexpected_message', () => {
  assert.throws(() => parseClientHello(enc({ ...good, type: 'server_hello' })), code('unexpected_message'));
});

test('server_hello: a plaintext error from the server surfaces as its code', () => {
  assert.throws(() => parseServerHello(enc({ type: 'error', code: 'replay', message: 'seen' })), code('replay'));
  assert.throws(() => parseServerHello(enc({ type: 'error', code: 'not_a_code' })), code('internal'));
  assert.throws(() => parseServerHello(enc({ type: 'server_hello', status: 'no', version: 1, nonce: b64(32), key_share: b64(32) })), code('malformed'));
});

test('auth messages: certificate array bounds and strict base64', () => {
  const auth = { type: 'client_auth', certificate: [b64(100)], signature: b64(70), finished: b64(32) };
  assert.equal(parseAuthMessage(enc(auth), 'client_auth').certificate[0].length, 100);
  assert.throws(() => parseAuthMessage(enc({ ...auth, certificate: [] }), 'client_auth'), code('malformed'));
  assert.throws(() => parseAuthMessage(enc({ ...auth, certificate: Array(9).fill(b64(10)) }), 'client_auth'), code('malformed'));
  assert.throws(() => parseAuthMessage(enc({ ...auth, certificate: [7] }), 'client_auth'), code('malformed'));
  assert.throws(() => parseAuthMessage(enc({ ...auth, finished: b64(31) }), 'client_auth'), code('malformed'));
  assert.throws(() => parseAuthMessage(enc(auth), 'server_auth'), code('unexpected_message'));
});
