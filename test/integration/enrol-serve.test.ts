/**
 * Enrolment by token through the shipped program: `securechat ca enrol-token` makes the token,
 * `securechat serve --ws-port 0 --enrolment --ca-passphrase-file F` signs a browser-style CSR for
 * it over HTTPS, and the certificate then logs in over WebSocket. The CA has an intermediate and
 * encrypted keys, and the root key is removed before the server starts: it is never needed online.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatClient } from '../../src/client/client.js';
import { wsDialer } from '../../src/client/ws-dial.js';
import { ParsedCert } from '../../src/pki/cert.js';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import { isApiError, isEnrolResponse, isTrustResponse, MAX_ENROL_BODY_BYTES, type EnrolResponse } from '../../src/protocol/enrol-wire.js';
import { loadTrust } from '../../src/server/start.js';
import { nextPush, TEST_PASSWORD } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';
import { apiRequest, errorCode, makeCsr, makeEnrolPki, postEnrol, type EnrolPki } from '../helpers/enrol.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';

let pki: EnrolPki;
let data: string;

async function newToken(name: string, ...extra: string[]): Promise<{ token: string; id: string }> {
  const r = await runCli(['ca', 'enrol-token', name, '--dir', pki.dir, '--json', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; token: string; id: string };
  assert.equal(out.ok, true);
  return out;
}

async function startWs(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ serve: ServeProcess; wsPort: number }> {
  const db = `sqlite:${join(data, `chat-${Math.random().toString(16).slice(2)}.db`)}`;
  const serve = await startServe(['--port', '0', '--ws-port', '0', '--certs', pki.dir, '--db', db, '--log-file', 'off', '--log-format', 'text', ...args], { env });
  const wsPort = Number((await serve.waitFor(/WebSocket \(\/ws\) on https:\/\/[^\s]+:(\d+)\//))[1]);
  return { serve, wsPort };
}

before(async () => {
  pki = await makeEnrolPki();
  data = mkdtempSync(join(tmpdir(), 'sc-enrol-serve-'));
  rmSync(join(pki.dir, 'root_ca_key.pem'));
});

after(() => {
  rmSync(data, { recursive: true, force: true });
  rmSync(join(pki.dir, '..'), { recursive: true, force: true });
});

describe('serve --enrolment', () => {
  let serve: ServeProcess;
  let wsPort: number;

  before(async () => {
    ({ serve, wsPort } = await startWs(['--enrolment', '--ca-passphrase-file', pki.passFile], { SECURECHAT_ENROL_REQUESTS_PER_MINUTE_PER_IP: '1000', SECURECHAT_ENROL_REQUESTS_PER_MINUTE: '1000' }));
  });
  after(async () => {
    await serve?.stop();
  });

  test('GET /api/trust: the roots and the name in the server certificate', async () => {
    const r = await apiRequest(wsPort, pki.rootPem, { path: '/api/trust' });
    assert.equal(r.status, 200);
    assert.ok(isTrustResponse(r.body));
    assert.equal(r.body.serverName, 'localhost');
    assert.deepEqual(r.body.roots.map((p) => readPemCertificates(p)[0]), readPemCertificates(pki.rootPem));
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
  });

  test('happy path: a token and a P-256 CSR buy a clientAuth certificate that logs in over WebSocket', async () => {
    const { token, id } = await newToken('carol');
    const csr = await makeCsr('carol');
    const r = await postEnrol(wsPort, pki.rootPem, { token, csr: csr.pem });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(isEnrolResponse(r.body));
    const reply: EnrolResponse = r.body;
    assert.deepEqual(Object.keys(reply).sort(), ['certificate', 'chain', 'roots']);
    assert.equal(reply.chain.length, 1, 'the intermediate');
    assert.deepEqual(readPemCertificates(reply.roots.join('')), readPemCertificates(pki.rootPem));

    // The `ca issue client` profile: CN = the token's name, clientAuth, no SAN, not a CA.
    const leaf = ParsedCert.fromDer(readPemCertificates(reply.certificate)[0]);
    assert.equal(leaf.commonName, 'carol');
    assert.equal(leaf.subjectAltNames.length, 0);
    assert.equal(leaf.isCa, false);
    const trust = loadTrust(pki.dir).trust;
    const chain = readPemCertificates(reply.certificate + reply.chain.join(''));
    assert.equal(trust.verifyDer(chain, { purpose: 'client' })[0].commonName, 'carol');
    assert.throws(() => trust.verifyDer(chain, { purpose: 'server', hostname: 'carol' }));

    // Recorded in the CA index like `ca issue`, and the token is spent with that serial.
    const index = JSON.parse(readFileSync(join(pki.dir, 'index.json'), 'utf8')) as { certificates: { serial: string; subject: string; kind: string; enrolToken?: string }[] };
    const entry = index.certificates.find((e) => e.enrolToken === id);
    assert.ok(entry);
    assert.equal(entry.subject, 'CN=carol');
    assert.equal(entry.kind, 'client');
    const issuedPem = readFileSync(join(pki.dir, 'issued', `${entry.serial}.pem`), 'utf8');
    assert.equal(ParsedCert.fromDer(readPemCertificates(issuedPem)[0]).serialHex, leaf.serialHex);
    const listed = await runCli(['ca', 'enrol-token', '--list', '--dir', pki.dir, '--json']);
    const mine = (JSON.parse(listed.stdout) as { tokens: { id: string; status: string; serial?: string }[] }).tokens.find((t) => t.id === id);
    assert.equal(mine?.status, 'used');
    assert.equal(mine?.serial, entry.serial);
    assert.equal(statSync(join(pki.dir, 'enrol-tokens.json')).mode & 0o777, 0o600);
    assert.ok(!readFileSync(join(pki.dir, 'enrol-tokens.json'), 'utf8').includes(token.split('.')[2]), 'only a hash is stored');

    // The certificate works: carol registers over WebSocket and DMs bob, who is on TCP.
    const rootPem = pki.rootPem;
    const carol = await SecureChatClient.connect({
      host: '127.0.0.1', port: wsPort, serverName: 'localhost', identity: { chain, privateKey: csr.privateKey }, trust,
      dial: wsDialer({ caPem: rootPem, serverName: 'localhost' }),
    });
    const bob = await SecureChatClient.connect({
      host: '127.0.0.1', port: serve.port, serverName: 'localhost', trust,
      identity: { chain: readPemCertificates(readFileSync(join(pki.dir, 'bob_cert.pem'), 'utf8')), privateKey: readPrivateKey(readFileSync(join(pki.dir, 'bob_key.pem'), 'utf8')) },
    });
    await carol.request('register', { password: TEST_PASSWORD });
    await bob.request('register', { password: TEST_PASSWORD });
    const got = nextPush<{ text: string; from: string }>(bob, 'message', 15_000);
    await carol.request('dm', { to: 'bob', text: 'enrolled in the browser' });
    assert.equal((await got).text, 'enrolled in the browser');
    carol.close();
    bob.close();

    // Never a token in the log.
    assert.ok(!serve.output().includes(token.split('.')[2]));
    assert.match(serve.output(), /issued a client certificate/);
  });

  test('reuse: a spent token buys nothing more', async () => {
    const { token } = await newToken('dave');
    assert.equal((await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('dave')).pem })).status, 200);
    const again = await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('dave')).pem });
    assert.equal(again.status, 409);
    assert.equal(errorCode(again), 'enrol_token_used');
    assert.ok(isApiError(again.body));
    assert.match(again.body.error.message, /new token/);
  });

  test('expiry: a token past its --ttl is refused', async () => {
    const { token } = await newToken('erin', '--ttl', '1s');
    // Wait until the token's lifetime has certainly passed (no timing is asserted).
    await new Promise((r) => setTimeout(r, 1500));
    const r = await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('erin')).pem });
    assert.equal(r.status, 403);
    assert.equal(errorCode(r), 'enrol_token_expired');
  });

  test('wrong name: the CSR must ask for the token\'s name; the token is not spent by the refusal', async () => {
    const { token } = await newToken('frank');
    const wrong = await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('alice')).pem });
    assert.equal(wrong.status, 409);
    assert.equal(errorCode(wrong), 'enrol_name_mismatch');
    const right = await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('frank')).pem });
    assert.equal(right.status, 200);
  });

  test('bad CSRs: garbage, a broken signature, an RSA key', async () => {
    const { token } = await newToken('grace');
    const garbage = await postEnrol(wsPort, pki.rootPem, { token, csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' });
    assert.equal(garbage.status, 400);
    assert.equal(errorCode(garbage), 'bad_csr');
    const notPem = await postEnrol(wsPort, pki.rootPem, { token, csr: 'hello' });
    assert.equal(errorCode(notPem), 'bad_csr');
    // Flip a byte of the signature (the last bytes of the DER).
    const good = await makeCsr('grace');
    const der = Buffer.from(good.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 3] ^= 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    const broken = await postEnrol(wsPort, pki.rootPem, { token, csr: tampered });
    assert.equal(errorCode(broken), 'bad_csr');
    const rsa = await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('grace', 'rsa')).pem });
    assert.equal(errorCode(rsa), 'bad_csr');
    // None of these spent the token.
    assert.equal((await postEnrol(wsPort, pki.rootPem, { token, csr: good.pem })).status, 200);
  });

  test('hostile bodies: oversize (declared or chunked), not JSON, wrong media type, extra fields, unknown token, other origin', async () => {
    const big = JSON.stringify({ token: 'x', csr: 'A'.repeat(MAX_ENROL_BODY_BYTES) });
    const declared = await apiRequest(wsPort, pki.rootPem, { method: 'POST', path: '/api/enrol', body: big, headers: { 'Content-Type': 'application/json' } });
    assert.equal(declared.status, 413);
    assert.equal(errorCode(declared), 'request_too_large');
    const chunked = await apiRequest(wsPort, pki.rootPem, { method: 'POST', path: '/api/enrol', body: big, chunked: true, headers: { 'Content-Type': 'application/json' } });
    assert.equal(chunked.status, 413);
    assert.equal(errorCode(chunked), 'request_too_large');

    const notJson = await apiRequest(wsPort, pki.rootPem, { method: 'POST', path: '/api/enrol', body: '{"token": ', headers: { 'Content-Type': 'application/json' } });
    assert.equal(notJson.status, 400);
    assert.equal(errorCode(notJson), 'bad_request');
    const form = await apiRequest(wsPort, pki.rootPem, { method: 'POST', path: '/api/enrol', body: 'token=x&csr=y', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.status, 415);
    assert.equal(errorCode(form), 'bad_request');
    const extra = await postEnrol(wsPort, pki.rootPem, { token: 'x', csr: 'y', name: 'root' });
    assert.equal(errorCode(extra), 'bad_request');
    const get = await apiRequest(wsPort, pki.rootPem, { path: '/api/enrol' });
    assert.equal(get.status, 405);

    const forged = await postEnrol(wsPort, pki.rootPem, { token: `sct1.${'0'.repeat(16)}.${'A'.repeat(43)}`, csr: (await makeCsr('mallory')).pem });
    assert.equal(forged.status, 403);
    assert.equal(errorCode(forged), 'enrol_token_invalid');
    const { token } = await newToken('heidi');
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    assert.equal(errorCode(await postEnrol(wsPort, pki.rootPem, { token: flipped, csr: (await makeCsr('heidi')).pem })), 'enrol_token_invalid');

    const crossSite = await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('heidi')).pem }, { Origin: 'https://evil.example' });
    assert.equal(crossSite.status, 403);
    assert.equal(errorCode(crossSite), 'forbidden');
    const unknown = await apiRequest(wsPort, pki.rootPem, { path: '/api/nothing' });
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), 'not_found');
    // After all that, the real token still works once.
    assert.equal((await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('heidi')).pem })).status, 200);
  });
});

describe('serve without --enrolment', () => {
  test('POST /api/enrol is refused with enrol_disabled; GET /api/trust still answers', async () => {
    const { serve, wsPort } = await startWs([]);
    try {
      const { token } = await newToken('ivan');
      const r = await postEnrol(wsPort, pki.rootPem, { token, csr: (await makeCsr('ivan')).pem });
      assert.equal(r.status, 403);
      assert.equal(errorCode(r), 'enrol_disabled');
      assert.ok(isApiError(r.body));
      assert.match(r.body.error.message, /ca issue client/);
      assert.equal((await apiRequest(wsPort, pki.rootPem, { path: '/api/trust' })).status, 200);
      assert.doesNotMatch(serve.output(), /enrolment on/);
    } finally {
      await serve.stop();
    }
  });

  test('an encrypted CA key without --ca-passphrase-file: serve --enrolment refuses to start, naming the flag', async () => {
    const r = await runCli(['serve', '--port', '0', '--ws-port', '0', '--certs', pki.dir, '--db', `sqlite:${join(data, 'nopass.db')}`, '--log-file', 'off', '--enrolment']);
    assert.equal(r.code, 1);
    assert.match(r.stderr + r.stdout, /bad_passphrase.*--ca-passphrase-file/s);
  });

  test('serve --check-config --enrolment checks that the issuing key decrypts', async () => {
    const base = ['serve', '--check-config', '--port', '0', '--ws-port', '0', '--certs', pki.dir, '--db', `sqlite:${join(data, 'check.db')}`, '--log-file', 'off', '--enrolment'];
    const good = await runCli([...base, '--ca-passphrase-file', pki.passFile]);
    assert.equal(good.code, 0, good.stdout);
    assert.match(good.stdout, /ok\s+enrolment\s+signs client CSRs for tokens with the intermediate CA key/);
    const bad = await runCli(base);
    assert.equal(bad.code, 2);
    assert.match(bad.stdout, /FAIL\s+enrolment/);
  });
});
