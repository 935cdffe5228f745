/**
 * The docs/PROTOCOL.md worked example as checks against any crypto provider. Pure Uint8Array code
 * with no Node import, so the same function runs in Node (both providers) and, bundled, in
 * Chromium (test/browser/). Returns the names of the checks that failed (empty = all passed).
 */
import { fromHex, toHex } from '../../src/protocol/bytes.js';
import type { CryptoProvider } from '../../src/protocol/crypto/provider.js';
import { scheduleApplication, scheduleHandshake, sharedSecretWith, transcriptHashWith } from '../../src/protocol/key-schedule.js';
import { AsyncRecordOpener, AsyncRecordSealer } from '../../src/protocol/record-async.js';
import { ContentType, xorSequence } from '../../src/protocol/record-common.js';

/** name → hex, from the ```kat block of docs/PROTOCOL.md. */
export function parseKat(doc: string): Map<string, string> {
  const kat = new Map<string, string>();
  for (const m of doc.matchAll(/```kat\n([\s\S]*?)```/g)) {
    for (const line of m[1].split('\n').filter(Boolean)) {
      const l = /^([a-z0-9_]+): ([0-9a-f]+)$/.exec(line);
      if (!l) throw new Error(`bad KAT line: ${line}`);
      kat.set(l[1], l[2]);
    }
  }
  return kat;
}

export async function runProviderVectors(p: CryptoProvider, kat: Map<string, string>): Promise<string[]> {
  const failures: string[] = [];
  const v = (name: string): Uint8Array => {
    const h = kat.get(name);
    if (h === undefined) throw new Error(`PROTOCOL.md lacks ${name}`);
    return fromHex(h);
  };
  const check = (name: string, got: Uint8Array, want: string): void => {
    if (toHex(got) !== kat.get(want)) failures.push(`${name}: got ${toHex(got)}, want ${want}`);
  };

  const client = await p.x25519FromPrivate(v('client_x25519_private'));
  const server = await p.x25519FromPrivate(v('server_x25519_private'));
  check('client key share', client.publicRaw, 'client_key_share');
  check('server key share', server.publicRaw, 'server_key_share');
  check('shared (client side)', await sharedSecretWith(p, client.privateKey, server.publicRaw), 'shared_secret');
  check('shared (server side)', await sharedSecretWith(p, server.privateKey, client.publicRaw), 'shared_secret');

  check('hs salt', await transcriptHashWith(p, v('client_hello'), v('server_hello')), 'hs_salt');
  const hs = await scheduleHandshake(p, v('shared_secret'), v('client_hello'), v('server_hello'));
  check('hs_secret', hs.hsSecret, 'hs_secret');
  check('c_hs_key', hs.client.key, 'c_hs_key');
  check('c_hs_iv', hs.client.iv, 'c_hs_iv');
  check('s_hs_key', hs.server.key, 's_hs_key');
  check('s_hs_iv', hs.server.iv, 's_hs_iv');
  check('c_finished_key', hs.client.finishedKey, 'c_finished_key');
  check('s_finished_key', hs.server.finishedKey, 's_finished_key');

  const th = await transcriptHashWith(p, v('client_hello'), v('server_hello'), v('server_auth'), v('client_auth'));
  check('transcript hash', th, 'transcript_hash');
  const app = await scheduleApplication(p, v('hs_secret'), th);
  check('app_secret', app.appSecret, 'app_secret');
  check('c_ap_key', app.client.key, 'c_ap_key');
  check('c_ap_iv', app.client.iv, 'c_ap_iv');
  check('s_ap_key', app.server.key, 's_ap_key');
  check('s_ap_iv', app.server.iv, 's_ap_iv');

  const keys = { key: v('s_ap_key'), iv: v('s_ap_iv') };
  for (const seq of [0, 1]) {
    const nonce = keys.iv.slice();
    xorSequence(nonce, seq);
    check(`nonce ${seq}`, nonce, `record_seq${seq}_nonce`);
  }
  check('sealed record', await new AsyncRecordSealer(p, keys).seal(ContentType.application, v('record_body')), 'record_seq0_frame');
  const opened = await new AsyncRecordOpener(p, keys).open(v('record_seq0_frame').subarray(4));
  if (opened.contentType !== ContentType.application) failures.push('opened content type');
  check('opened body', opened.body, 'record_body');

  // A tampered record must fail, with the protocol's code.
  const tampered = v('record_seq0_frame').slice(4);
  tampered[tampered.length - 1] ^= 1;
  try {
    await new AsyncRecordOpener(p, keys).open(tampered);
    failures.push('tampered record opened');
  } catch (err) {
    if ((err as { code?: string }).code !== 'bad_record') failures.push(`tampered record: ${String(err)}`);
  }

  // Signatures in the protocol's encoding (DER ECDSA) round-trip through the provider.
  const signer = await p.p256Generate(false);
  const data = v('transcript_hash');
  const sig = await p.sign(signer.privateKey, data);
  if (sig[0] !== 0x30) failures.push('signature is not DER');
  if (!(await p.verify(signer.spki, data, sig))) failures.push('own signature does not verify');
  const wrong = data.slice();
  wrong[0] ^= 1;
  if (await p.verify(signer.spki, wrong, sig)) failures.push('signature verifies over other data');
  return failures;
}
