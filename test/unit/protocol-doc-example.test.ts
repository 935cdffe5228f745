/**
 * Known-answer tests: the worked example in docs/PROTOCOL.md (§8) is recomputed with the
 * implementation, so the key schedule, labels and nonce construction there are the ones in the code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { computeSharedSecret, deriveApplicationSecrets, deriveHandshakeSecrets, keyShareFromPrivate, LABELS, sha256 } from '../../src/protocol/keys.js';
import { ContentType, RecordOpener, RecordSealer, recordNonce } from '../../src/protocol/record.js';
import { parseClientHello, parseServerHello } from '../../src/protocol/messages.js';

const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/```kat\n([\s\S]*?)```/g)].map((m) => m[1]);
const kat = new Map<string, Buffer>();
for (const block of blocks) {
  for (const line of block.split('\n').filter(Boolean)) {
    const m = /^([a-z0-9_]+): ([0-9a-f]+)$/.exec(line);
    assert.ok(m, `bad KAT line: ${line}`);
    kat.set(m[1], Buffer.from(m[2], 'hex'));
  }
}
const v = (name: string): Buffer => {
  const b = kat.get(name);
  assert.ok(b, `PROTOCOL.md lacks ${name}`);
  return b;
};
const hex = (b: Buffer) => b.toString('hex');

test('the worked example is present and the readable hellos match their hex', () => {
  assert.equal(blocks.length, 1);
  assert.ok(kat.size >= 25);
  assert.ok(doc.includes(`CH = ${v('client_hello').toString()}\n`));
  assert.ok(doc.includes(`SH = ${v('server_hello').toString()}\n`));
  assert.deepEqual(parseClientHello(v('client_hello')).keyShare, v('client_key_share'));
  assert.deepEqual(parseServerHello(v('server_hello')).keyShare, v('server_key_share'));
});

test('every label listed in the code appears in the documented key schedule', () => {
  for (const label of Object.values(LABELS)) assert.ok(doc.includes(`"${label}"`), label);
});

test('KAT: X25519 key shares and shared secret (both directions)', () => {
  const client = keyShareFromPrivate(v('client_x25519_private'));
  const server = keyShareFromPrivate(v('server_x25519_private'));
  assert.equal(hex(client.publicRaw), hex(v('client_key_share')));
  assert.equal(hex(server.publicRaw), hex(v('server_key_share')));
  assert.equal(hex(computeSharedSecret(client.privateKey, server.publicRaw)), hex(v('shared_secret')));
  assert.equal(hex(computeSharedSecret(server.privateKey, client.publicRaw)), hex(v('shared_secret')));
});

test('KAT: handshake secret, keys, IVs and finished keys', () => {
  assert.equal(hex(sha256(v('client_hello'), v('server_hello'))), hex(v('hs_salt')));
  const hs = deriveHandshakeSecrets(v('shared_secret'), v('client_hello'), v('server_hello'));
  assert.equal(hex(hs.hsSecret), hex(v('hs_secret')));
  assert.equal(hex(hs.client.key), hex(v('c_hs_key')));
  assert.equal(hex(hs.client.iv), hex(v('c_hs_iv')));
  assert.equal(hex(hs.server.key), hex(v('s_hs_key')));
  assert.equal(hex(hs.server.iv), hex(v('s_hs_iv')));
  assert.equal(hex(hs.client.finishedKey), hex(v('c_finished_key')));
  assert.equal(hex(hs.server.finishedKey), hex(v('s_finished_key')));
});

test('KAT: transcript hash and application keys', () => {
  const th = sha256(v('client_hello'), v('server_hello'), v('server_auth'), v('client_auth'));
  assert.equal(hex(th), hex(v('transcript_hash')));
  const app = deriveApplicationSecrets(v('hs_secret'), th);
  assert.equal(hex(app.appSecret), hex(v('app_secret')));
  assert.equal(hex(app.client.key), hex(v('c_ap_key')));
  assert.equal(hex(app.client.iv), hex(v('c_ap_iv')));
  assert.equal(hex(app.server.key), hex(v('s_ap_key')));
  assert.equal(hex(app.server.iv), hex(v('s_ap_iv')));
});

test('KAT: record nonces and the sealed first record', () => {
  const keys = { key: v('s_ap_key'), iv: v('s_ap_iv') };
  assert.equal(hex(recordNonce(keys.iv, 0)), hex(v('record_seq0_nonce')));
  assert.equal(hex(recordNonce(keys.iv, 1)), hex(v('record_seq1_nonce')));
  const frame = new RecordSealer(keys).seal(ContentType.application, v('record_body'));
  assert.equal(hex(frame), hex(v('record_seq0_frame')));
  const opened = new RecordOpener(keys).open(v('record_seq0_frame').subarray(4));
  assert.equal(opened.contentType, ContentType.application);
  assert.equal(hex(opened.body), hex(v('record_body')));
});
