/**
 * Enrolment in a real browser against the production shape of a CA (root + intermediate, keys
 * encrypted, the root key offline): a one-time token from `securechat ca enrol-token` buys the
 * page a certificate for its own non-extractable key (POST /api/enrol), the page validates the
 * server chain through the intermediate to the root it got back, and chats; a .p12 from
 * `securechat ca export-p12` is imported with its key non-extractable; a browser that does not
 * trust the root cannot even load the page (no certificate errors are ignored anywhere).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { SecureChatClient } from '../../src/client/client.js';
import { issueCertificate } from '../../src/pki/ca.js';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import { loadTrust } from '../../src/server/start.js';
import { TEST_PASSWORD } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';
import { CA_PASSPHRASE, makeEnrolPki, type EnrolPki } from '../helpers/enrol.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { ensureWebBuild, homeTrusting, launchBrowser, skipReason } from './browser-helpers.js';

const skip = skipReason();
const STEP_MS = 30_000;

let pki: EnrolPki;
let data: string;
let serve: ServeProcess;
let origin: string;
let home: string;
let emptyHome: string;
let browser: Browser;
let untrusting: Browser;
const clients: SecureChatClient[] = [];

async function nodeClient(user: string): Promise<SecureChatClient> {
  const c = await SecureChatClient.connect({
    host: '127.0.0.1', port: serve.port, serverName: 'localhost',
    identity: { chain: readPemCertificates(readFileSync(join(pki.dir, `${user}_cert.pem`), 'utf8')), privateKey: readPrivateKey(readFileSync(join(pki.dir, `${user}_key.pem`), 'utf8'), CA_PASSPHRASE) },
    trust: loadTrust(pki.dir).trust,
  });
  clients.push(c);
  await c.request('register', { password: TEST_PASSWORD });
  return c;
}

describe('enrolment in Chromium', { skip, timeout: 180_000 }, () => {
  before(async () => {
    ensureWebBuild();
    pki = await makeEnrolPki();
    data = mkdtempSync(join(tmpdir(), 'sc-browser-enrol-'));
    // dave's certificate (for the .p12) comes from the intermediate; the root key then goes offline.
    await issueCertificate({ dir: pki.dir, kind: 'client', name: 'dave', passphrase: CA_PASSPHRASE });
    rmSync(join(pki.dir, 'root_ca_key.pem'));
    serve = await startServe(['--port', '0', '--ws-port', '0', '--certs', pki.dir, '--db', `sqlite:${join(data, 'chat.db')}`, '--log-file', 'off', '--log-format', 'text', '--enrolment', '--ca-passphrase-file', pki.passFile]);
    const wsPort = Number((await serve.waitFor(/WebSocket \(\/ws\) on https:\/\/[^\s]+:(\d+)\//))[1]);
    origin = `https://localhost:${wsPort}`;
    home = homeTrusting(join(pki.dir, 'root_ca.pem'));
    emptyHome = mkdtempSync(join(tmpdir(), 'sc-browser-untrusting-'));
    mkdirSync(join(emptyHome, '.pki', 'nssdb'), { recursive: true });
    browser = await launchBrowser(home);
  });

  after(async () => {
    for (const c of clients) c.close();
    await browser?.close();
    await untrusting?.close();
    await serve?.stop();
    for (const d of [data, home, emptyHome, pki ? join(pki.dir, '..') : undefined]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('a browser without the root refuses the page: certificate errors are not ignored', async () => {
    untrusting = await launchBrowser(emptyHome);
    const page = await (await untrusting.newContext()).newPage();
    await assert.rejects(page.goto(origin), /ERR_CERT_AUTHORITY_INVALID/);
  });

  let context: BrowserContext;

  test('token enrolment: `ca enrol-token`, POST /api/enrol, then register and chat over the intermediate chain', async () => {
    context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    const page = await context.newPage();
    await page.goto(origin);
    await page.getByTestId('enrol-username').fill('carol');
    await page.getByTestId('enrol-generate').click();
    const tokenOut = await runCli(['ca', 'enrol-token', 'carol', '--dir', pki.dir, '--json']);
    assert.equal(tokenOut.code, 0, tokenOut.stderr);
    const { token } = JSON.parse(tokenOut.stdout) as { token: string };
    await page.getByTestId('enrol-token').fill(token);
    await page.getByTestId('enrol-token-submit').click();
    await page.getByTestId('login').waitFor({ timeout: STEP_MS });
    await page.getByTestId('password').fill(TEST_PASSWORD);
    await page.getByTestId('register-submit').click();
    await page.locator('[data-testid=status][data-phase=ready]').waitFor({ timeout: STEP_MS });
    const bob = await nodeClient('bob');
    await bob.request('dm', { to: 'carol', text: 'welcome, carol' });
    await page.getByTestId('conv-dm:bob').click();
    await page.getByText('welcome, carol').waitFor({ timeout: STEP_MS });
    // A used token is spent: a second page cannot enrol with it.
    const again = await page.evaluate(async (t) => (await fetch('/api/enrol', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: t, csr: 'x' }) })).status, token);
    assert.ok(again >= 400, `reused token answered ${again}`);
    await context.close();
  });

  test('.p12 import from `ca export-p12`: key non-extractable, then log in as that user', async () => {
    const pass = join(data, 'p12.pass');
    writeFileSync(pass, 'p12 password for dave\n', { mode: 0o600 });
    const keyPass = join(data, 'key.pass');
    writeFileSync(keyPass, CA_PASSPHRASE + '\n', { mode: 0o600 });
    const p12 = join(data, 'dave.p12');
    const exported = await runCli(['ca', 'export-p12', join(pki.dir, 'dave_cert.pem'), '--key', join(pki.dir, 'dave_key.pem'), '--key-passphrase-file', keyPass, '--out', p12, '--password-file', pass]);
    assert.equal(exported.code, 0, exported.stderr);
    context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    const page = await context.newPage();
    await page.goto(origin);
    await page.locator('summary').click();
    await page.getByTestId('p12-file').setInputFiles(p12);
    await page.getByTestId('p12-pass').fill('wrong password');
    await page.getByTestId('p12-import').click();
    await page.getByTestId('enrol-error').waitFor({ timeout: STEP_MS });
    await page.getByTestId('p12-file').setInputFiles(p12);
    await page.getByTestId('p12-pass').fill('p12 password for dave');
    await page.getByTestId('p12-import').click();
    await page.getByTestId('login').waitFor({ timeout: STEP_MS });
    const key = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve) => {
        const r = indexedDB.open('securechat');
        r.onsuccess = () => resolve(r.result);
      });
      const id = await new Promise<{ privateKey: CryptoKey; origin: string }>((resolve) => {
        const r = db.transaction('kv').objectStore('kv').get('identity');
        r.onsuccess = () => resolve(r.result);
      });
      const exported = await crypto.subtle.exportKey('pkcs8', id.privateKey).then(() => 'exported', (e: DOMException) => e.name);
      return { extractable: id.privateKey.extractable, exported, origin: id.origin };
    });
    assert.deepEqual(key, { extractable: false, exported: 'InvalidAccessError', origin: 'p12' });
    await page.getByTestId('password').fill(TEST_PASSWORD);
    await page.getByTestId('register-submit').click();
    await page.locator('[data-testid=status][data-phase=ready]').waitFor({ timeout: STEP_MS });
    assert.match((await page.getByTestId('status').textContent()) ?? '', /dave/);
    await context.close();
  });
});
