/**
 * The enrolment endpoint on the real HTTPS listener (listenWebSocket) in this process, where the
 * limits can be set small: one token raced by many requests buys exactly one certificate; the
 * per-address and global rates answer 429 with Retry-After; and a `ca issue` run by the CLI while
 * the server enrols loses no index entry (both write under the CA lock, on a fresh read).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { silentLogger } from '../../src/log.js';
import { loadIssuingCa, readCaIndex, type IssuingCa } from '../../src/pki/ca-store.js';
import { createEnrolToken } from '../../src/pki/enrol-tokens.js';
import { EnrolmentService, type EnrolLimits } from '../../src/server/enrolment.js';
import { listenWebSocket, type WsTransport } from '../../src/server/transports/ws.js';
import { runCli } from '../helpers/cli.js';
import { CA_PASSPHRASE, errorCode, makeCsr, makeEnrolPki, postEnrol, type EnrolPki } from '../helpers/enrol.js';

let pki: EnrolPki;
let ca: IssuingCa;
const open: WsTransport[] = [];

async function listen(limits: Partial<EnrolLimits>): Promise<number> {
  const log = silentLogger();
  const chat = { handle: (stream: Duplex) => stream.destroy() };
  const ws = await listenWebSocket(chat, {
    host: '127.0.0.1', port: 0, maxFrameSize: 1 << 20, certsDir: pki.dir, behindProxy: false, webRoot: null, log,
    enrolment: new EnrolmentService({ certsDir: pki.dir, ca, limits, log }),
  });
  open.push(ws);
  return ws.port;
}

before(async () => {
  pki = await makeEnrolPki();
  ca = await loadIssuingCa(pki.dir, CA_PASSPHRASE);
});

after(async () => {
  for (const ws of open) await ws.close();
  rmSync(join(pki.dir, '..'), { recursive: true, force: true });
});

test('one token raced by 12 requests: exactly one certificate, the others enrol_token_used', async () => {
  const port = await listen({ perIpPerMinute: 1000, perMinute: 1000, maxConcurrent: 100 });
  const { token, id } = createEnrolToken({ dir: pki.dir, name: 'racer' });
  const csrs = await Promise.all(Array.from({ length: 12 }, () => makeCsr('racer')));
  const replies = await Promise.all(csrs.map((csr) => postEnrol(port, pki.rootPem, { token, csr: csr.pem })));
  const statuses = replies.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, ...Array<number>(11).fill(409)], JSON.stringify(replies.map((r) => r.body)));
  assert.ok(replies.filter((r) => r.status === 409).every((r) => errorCode(r) === 'enrol_token_used'));
  const recorded = readCaIndex(pki.dir).certificates.filter((e) => e.enrolToken === id);
  assert.equal(recorded.length, 1);
});

test('rate per address: past the burst, 429 rate_limited with Retry-After, before the body is looked at', async () => {
  const port = await listen({ perIpPerMinute: 3, perMinute: 1000 });
  const body = { token: 'not a token', csr: 'x' };
  for (let i = 0; i < 3; i++) assert.equal(errorCode(await postEnrol(port, pki.rootPem, body)), 'enrol_token_invalid');
  const limited = await postEnrol(port, pki.rootPem, body);
  assert.equal(limited.status, 429);
  assert.equal(errorCode(limited), 'rate_limited');
  assert.ok(Number(limited.headers['retry-after']) >= 1);
});

test('global rate: bounded over all addresses together', async () => {
  const port = await listen({ perIpPerMinute: 1000, perMinute: 2 });
  const body = { token: 'not a token', csr: 'x' };
  await postEnrol(port, pki.rootPem, body);
  await postEnrol(port, pki.rootPem, body);
  assert.equal(errorCode(await postEnrol(port, pki.rootPem, body)), 'rate_limited');
});

test('a CLI `ca issue` running while the server enrols: every certificate stays in the index', async () => {
  const port = await listen({ perIpPerMinute: 100_000, perMinute: 100_000, maxConcurrent: 100 });
  let cliDone = false;
  const cli = runCli(['ca', 'issue', 'client', 'zed', '--dir', pki.dir, '--passphrase-file', pki.passFile, '--json']).finally(() => {
    cliDone = true;
  });
  // Enrol, two at a time, for as long as the CLI runs, so that its index write lands among ours.
  const names: string[] = [];
  const enrolOne = async (): Promise<void> => {
    const name = `par${names.length}`;
    names.push(name);
    const { token } = createEnrolToken({ dir: pki.dir, name });
    const reply = await postEnrol(port, pki.rootPem, { token, csr: (await makeCsr(name)).pem });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  };
  await Promise.all([0, 1].map(async () => {
    while (!cliDone || names.length < 4) await enrolOne();
  }));
  const issued = await cli;
  assert.equal(issued.code, 0, issued.stderr);
  const subjects = readCaIndex(pki.dir).certificates.map((e) => e.subject);
  for (const n of [...names, 'zed']) assert.ok(subjects.includes(`CN=${n}`), `${n} missing from the index`);
  const zedSerial = (JSON.parse(issued.stdout) as { serial: string }).serial;
  assert.ok(readFileSync(join(pki.dir, 'issued', `${zedSerial}.pem`), 'utf8').includes('BEGIN CERTIFICATE'));
});
