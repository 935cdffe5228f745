/**
 * Known-answer test of the resumption example in docs/PROTOCOL.md §9.9: the key schedule, labels,
 * ticket format and binder there are the ones in the code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { computeSharedSecret, deriveApplicationSecrets, keyShareFromPrivate, sha256 } from '../../src/protocol/keys.js';
import { parseServerHello } from '../../src/protocol/messages.js';
import {
  RESUMPTION_LABELS,
  clientFinishedMac,
  computeBinder,
  deriveEarlySecrets,
  deriveResumedHandshakeSecrets,
  deriveResumptionMaster,
  deriveTicketPsk,
  encodeClientFinished,
  encodeResumedHello,
  encodeResumedServerHello,
  encodeServerFinished,
  parseClientFinished,
  parseResumedHello,
  parseResumedServerHello,
  parseServerFinished,
  serverFinishedMac,
} from '../../src/protocol/resumption.js';
import { TicketKeyRing, openTicket, sealTicket } from '../../src/server/tickets.js';

const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/```kat-resumption\n([\s\S]*?)```/g)].map((m) => m[1]);
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

const CLIENT_PRIVATE = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
const SERVER_PRIVATE = Buffer.from('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', 'hex');
const STATE = { issuedAt: 1700000000000, expiresAt: 1700003600000, path: [Buffer.from([0])], login: { userId: 7, uuid: 'u-7', username: 'alice', credentialVersion: 3 } };

test('the resumption example is present, its readable messages match their hex, and every label is documented', () => {
  assert.equal(blocks.length, 1);
  assert.ok(kat.size >= 35);
  for (const [name, key] of [['SH', 'resumed_server_hello'], ['SF', 'server_finished'], ['CF', 'client_finished']] as const) {
    assert.ok(doc.includes(`${name} = ${v(key).toString()}\n`), name);
  }
  for (const label of Object.values(RESUMPTION_LABELS)) assert.ok(doc.includes(`"${label}"`), label);
  // The §8 example's app_secret is the issuing session.
  assert.ok(doc.includes(`app_secret: ${hex(v('full_app_secret'))}\n`));
});

test('KAT: resumption secret and ticket PSK', () => {
  const res = deriveResumptionMaster(v('full_app_secret'));
  assert.equal(hex(res), hex(v('res_master')));
  assert.equal(hex(deriveTicketPsk(res, v('ticket_nonce'))), hex(v('psk')));
});

test('KAT: the sealed ticket, and the server opens it back', () => {
  const key = { id: v('ticket_key_id'), key: v('ticket_key') };
  const ticket = sealTicket(key, { psk: v('psk'), ...STATE }, v('ticket_iv'));
  assert.equal(hex(ticket), hex(v('ticket')));
  const ring = new TicketKeyRing({ rotationMs: 3600_000, lifetimeMs: 3600_000 });
  ring.import({ ...key, createdAt: Date.now() });
  const opened = openTicket(ring, v('ticket'));
  assert.equal(hex(opened.psk), hex(v('psk')));
  assert.deepEqual(opened.login, STATE.login);
  assert.deepEqual(opened.path, STATE.path);
});

test('KAT: early secrets, binder and the resumed client_hello', () => {
  const early = deriveEarlySecrets(v('psk'));
  assert.equal(hex(early.earlySecret), hex(v('early_secret')));
  assert.equal(hex(early.binderKey), hex(v('binder_key')));
  assert.equal(hex(early.derived), hex(v('derived')));
  const client = keyShareFromPrivate(CLIENT_PRIVATE);
  const { bytes, partial } = encodeResumedHello(
    { fields: { type: 'client_hello', version: 1, nonce: Buffer.alloc(32, 0x77).toString('base64'), timestamp: 1700000600000, key_share: client.publicRaw.toString('base64') }, ticket: v('ticket') },
    early.binderKey,
  );
  assert.equal(hex(bytes), hex(v('resumed_client_hello')));
  assert.equal(hex(sha256(partial)), hex(v('binder_hash')));
  assert.equal(hex(computeBinder(early.binderKey, partial)), hex(v('binder')));
  const parsed = parseResumedHello(v('resumed_client_hello'));
  assert.equal(hex(parsed.binder), hex(v('binder')));
  assert.equal(hex(parsed.ticket), hex(v('ticket')));
  assert.equal(hex(parsed.partial), hex(partial));
});

test('KAT: handshake secrets, finished messages, application keys and the next res_master', () => {
  const client = keyShareFromPrivate(CLIENT_PRIVATE);
  const server = keyShareFromPrivate(SERVER_PRIVATE);
  const SH = encodeResumedServerHello({ version: 1, nonce: Buffer.alloc(32, 0x88), keyShare: server.publicRaw });
  assert.equal(hex(SH), hex(v('resumed_server_hello')));
  assert.deepEqual(parseResumedServerHello(SH, parseServerHello).keyShare, server.publicRaw);
  const shared = computeSharedSecret(client.privateKey, server.publicRaw);
  assert.equal(hex(shared), hex(v('shared_secret')));
  assert.equal(hex(computeSharedSecret(server.privateKey, client.publicRaw)), hex(v('shared_secret')));
  const CH = v('resumed_client_hello');
  const hs = deriveResumedHandshakeSecrets(deriveEarlySecrets(v('psk')), shared, CH, SH);
  assert.equal(hex(hs.dheSecret), hex(v('dhe_secret')));
  assert.equal(hex(sha256(CH, SH)), hex(v('hs_salt')));
  assert.equal(hex(hs.hsSecret), hex(v('hs_secret')));
  assert.equal(hex(hs.client.key), hex(v('c_hs_key')));
  assert.equal(hex(hs.client.iv), hex(v('c_hs_iv')));
  assert.equal(hex(hs.server.key), hex(v('s_hs_key')));
  assert.equal(hex(hs.server.iv), hex(v('s_hs_iv')));
  assert.equal(hex(hs.client.finishedKey), hex(v('c_finished_key')));
  assert.equal(hex(hs.server.finishedKey), hex(v('s_finished_key')));
  const certHash = v('server_certificate_sha256');
  const SF = encodeServerFinished(certHash, serverFinishedMac(hs.server.finishedKey, CH, SH, certHash));
  assert.equal(hex(SF), hex(v('server_finished')));
  assert.equal(hex(parseServerFinished(SF).serverCertSha256), hex(certHash));
  const CF = encodeClientFinished(clientFinishedMac(hs.client.finishedKey, CH, SH, SF));
  assert.equal(hex(CF), hex(v('client_finished')));
  assert.equal(parseClientFinished(CF).length, 32);
  const th = sha256(CH, SH, SF, CF);
  assert.equal(hex(th), hex(v('transcript_hash')));
  const app = deriveApplicationSecrets(hs.hsSecret, th);
  assert.equal(hex(app.appSecret), hex(v('app_secret')));
  assert.equal(hex(app.client.key), hex(v('c_ap_key')));
  assert.equal(hex(app.client.iv), hex(v('c_ap_iv')));
  assert.equal(hex(app.server.key), hex(v('s_ap_key')));
  assert.equal(hex(app.server.iv), hex(v('s_ap_iv')));
  assert.equal(hex(deriveResumptionMaster(app.appSecret)), hex(v('next_res_master')));
});
