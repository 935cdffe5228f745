/**
 * One set of vectors against every crypto provider (DESIGN §6): the docs/PROTOCOL.md worked example
 * through the provider key schedule and provider records, with node:crypto and with WebCrypto
 * (Node's globalThis.crypto.subtle here; Chromium in test/browser/). Plus cross-provider checks:
 * what one provider signs or seals, the other verifies or opens, and the Node record layer agrees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fromBase64, fromHex, toBase64, toHex } from '../../src/protocol/bytes.js';
import { nodeCrypto } from '../../src/protocol/crypto/node.js';
import type { CryptoProvider } from '../../src/protocol/crypto/provider.js';
import { certificateSpki, ecdsaDerToRaw, ecdsaRawToDer, spkiAlgorithm } from '../../src/protocol/crypto/spki.js';
import { webCrypto } from '../../src/protocol/crypto/webcrypto.js';
import { AsyncRecordOpener, AsyncRecordSealer } from '../../src/protocol/record-async.js';
import { ContentType, RecordOpener, RecordSealer } from '../../src/protocol/record.js';
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { makeLeaf, makeRoot } from '../helpers/pki-fixtures.js';
import { parseKat, runProviderVectors } from '../helpers/provider-vectors.js';

const kat = parseKat(readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8'));
const providers: CryptoProvider[] = [nodeCrypto, webCrypto()];

for (const p of providers) {
  test(`PROTOCOL.md worked example with the ${p.name} provider`, async () => {
    assert.deepEqual(await runProviderVectors(p, kat), []);
  });
}

test('records sealed by one provider open with the other and with the Node record layer', async () => {
  const keys = { key: nodeCrypto.randomBytes(32), iv: nodeCrypto.randomBytes(12) };
  const body = nodeCrypto.randomBytes(3000);
  const web = webCrypto();
  const fromWeb = await new AsyncRecordSealer(web, keys).seal(ContentType.applicationWithData, body);
  const nodeOpened = new RecordOpener({ key: Buffer.from(keys.key), iv: Buffer.from(keys.iv) }).open(Buffer.from(fromWeb.subarray(4)));
  assert.equal(toHex(nodeOpened.body), toHex(body));
  const fromNode = new RecordSealer({ key: Buffer.from(keys.key), iv: Buffer.from(keys.iv) }).seal(ContentType.application, Buffer.from(body));
  const opener = new AsyncRecordOpener(web, keys);
  assert.equal(toHex((await opener.open(fromNode.subarray(4))).body), toHex(body));
  // The second record under the same keys is at sequence 1: replaying the first one fails.
  await assert.rejects(opener.open(fromNode.subarray(4)), { code: 'bad_record' });
});

test('signatures cross providers (P-256 DER) and Ed25519 verifies with both', async () => {
  const web = webCrypto();
  const data = nodeCrypto.randomBytes(32);
  const n = nodeCrypto.p256Generate(true);
  const w = await web.p256Generate(false);
  assert.ok(await web.verify(n.spki, data, nodeCrypto.sign(n.privateKey, data)));
  assert.ok(nodeCrypto.verify(w.spki, data, await web.sign(w.privateKey, data)));
  const ed = generateKeyPairSync('ed25519');
  const edSpki = ed.publicKey.export({ format: 'der', type: 'spki' });
  const edSig = sign(null, data, ed.privateKey);
  assert.equal(spkiAlgorithm(edSpki), 'ed25519');
  assert.ok(nodeCrypto.verify(edSpki, data, edSig));
  assert.ok(await web.verify(edSpki, data, edSig));
  // A PKCS#8 key imported into WebCrypto signs, and is not extractable.
  const pkcs8 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const imported = await web.importSigningKey(pkcs8.privateKey.export({ format: 'der', type: 'pkcs8' }));
  const spki = pkcs8.publicKey.export({ format: 'der', type: 'spki' });
  assert.ok(nodeCrypto.verify(spki, data, await web.sign(imported, data)));
  await assert.rejects(globalThis.crypto.subtle.exportKey('pkcs8', imported as unknown as CryptoKey));
});

test('ECDSA DER ↔ raw keeps leading-zero and high-bit components exact', () => {
  const raw = fromHex('00' + '80'.repeat(31) + '0000' + '7f'.repeat(30));
  const der = ecdsaRawToDer(raw);
  assert.equal(toHex(ecdsaDerToRaw(der, 32)), toHex(raw));
  assert.throws(() => ecdsaDerToRaw(Uint8Array.of(0x30, 0x02, 0x05, 0x00), 32));
});

test('certificateSpki finds the key of a real certificate', () => {
  const root = makeRoot('CN=Root');
  const leaf = makeLeaf('CN=server', root);
  const cert = new X509Certificate(leaf.der);
  const spki = certificateSpki(new Uint8Array(cert.raw));
  assert.equal(toHex(spki), toHex(cert.publicKey.export({ format: 'der', type: 'spki' })));
  assert.equal(toHex(fromBase64(toBase64(spki))), toHex(spki));
});
