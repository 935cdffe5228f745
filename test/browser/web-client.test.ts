/**
 * The web client in a real browser (issue 16): Debian's Chromium, headless, trusting the test CA's
 * root through its NSS database, loads the page from `securechat serve --ws-port` (a real
 * process) and: runs the docs/PROTOCOL.md worked example with the WebCrypto provider; enrols
 * through the operator path (CSR → `securechat ca issue client --csr` → certificate import) and,
 * where the server has it, a one-time token; shows the stored key cannot be exported; registers;
 * exchanges DMs with a real `securechat chat` process and DMs and files with a Node client; gets a message sent while it was offline; reconnects
 * after the socket drops; runs a group. Screenshots of the main screens go to docs/screenshots/
 * with SECURECHAT_UPDATE_SCREENSHOTS=1 (else to a temporary directory).
 *
 * Run with `npm run test:browser` (not part of `npm test`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { SecureChatClient } from '../../src/client/client.js';
import { SecureChatClient as Client } from '../../src/client/client.js';
import { loadTrust } from '../../src/server/start.js';
import { makeTestPki, TEST_PASSWORD, userIdentity, type TestPki } from '../helpers/chat-server.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { CLI_ENTRY } from '../helpers/tmux.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { ensureWebBuild, homeTrusting, launchBrowser, skipReason } from './browser-helpers.js';

const skip = skipReason();
const SHOTS = process.env.SECURECHAT_UPDATE_SCREENSHOTS === '1' ? join(REPO_ROOT, 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'sc-shots-'));
const STEP_MS = 30_000;

let pki: TestPki;
let data: string;
let serve: ServeProcess;
let wsPort: number;
let home: string;
let browser: Browser;
let context: BrowserContext;
let origin: string;
const nodeClients: SecureChatClient[] = [];

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function nodeLogin(user: string): Promise<SecureChatClient> {
  const c = await Client.connect({ host: '127.0.0.1', port: serve.port, serverName: 'localhost', identity: userIdentity(pki, user), trust: loadTrust(pki.dir).trust });
  nodeClients.push(c);
  await c.request('register', { password: TEST_PASSWORD }).catch(async () => c.request('login', { password: TEST_PASSWORD }));
  return c;
}

function pushOf<T = Record<string, unknown>>(c: SecureChatClient, type: string, match: (m: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} push`)), STEP_MS);
    const off = c.onPush(type, (msg) => {
      if (!match(msg as T)) return;
      clearTimeout(timer);
      off();
      resolve(msg as T);
    });
  });
}

describe('web client in Chromium', { skip, timeout: 180_000 }, () => {
  before(async () => {
    ensureWebBuild();
    pki = await makeTestPki(['bob', 'carol']);
    data = mkdtempSync(join(tmpdir(), 'sc-browser-data-'));
    serve = await startServe(['--port', '0', '--ws-port', '0', '--certs', pki.dir, '--db', `sqlite:${join(data, 'chat.db')}`, '--log-file', 'off', '--log-format', 'text']);
    wsPort = Number((await serve.waitFor(/WebSocket \(\/ws\) on https:\/\/[^\s]+:(\d+)\//))[1]);
    origin = `https://localhost:${wsPort}`;
    home = homeTrusting(join(pki.dir, 'root_ca.pem'));
    browser = await launchBrowser(home);
    context = await browser.newContext({ viewport: { width: 1100, height: 720 }, acceptDownloads: true });
  });

  after(async () => {
    for (const c of nodeClients) c.close();
    await browser?.close();
    await serve?.stop();
    for (const d of [data, home, pki?.dir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('the page loads over HTTPS trusted through the root, under the strict CSP', async () => {
    const page = await context.newPage();
    const res = await page.goto(origin);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    assert.equal(await page.evaluate(() => window.isSecureContext), true);
    await page.getByTestId('enrol-start').waitFor({ timeout: STEP_MS });
    await page.close();
  });

  test('docs/PROTOCOL.md worked example with the WebCrypto provider in Chromium', async () => {
    const bundle = await build({ entryPoints: [join(REPO_ROOT, 'test/browser/fixtures/vectors-entry.ts')], bundle: true, format: 'iife', globalName: 'scVectors', write: false, platform: 'browser', target: 'es2022' });
    const code = bundle.outputFiles[0].text;
    const doc = readFileSync(join(REPO_ROOT, 'docs/PROTOCOL.md'), 'utf8');
    const page = await context.newPage();
    await page.goto(origin);
    const failures = await page.evaluate(
      async ({ code, doc }) => {
        const mod = new Function(`${code}; return scVectors;`)() as {
          parseKat: (d: string) => Map<string, string>;
          runProviderVectors: (p: unknown, kat: Map<string, string>) => Promise<string[]>;
          webCrypto: () => unknown;
        };
        return mod.runProviderVectors(mod.webCrypto(), mod.parseKat(doc));
      },
      { code, doc },
    ).catch((err: Error) => [`evaluate failed: ${err.message}`]);
    assert.deepEqual(failures, []);
    await page.close();
  });

  let page: Page;
  let bob: SecureChatClient;

  test('operator enrolment: CSR from the page, `ca issue client --csr`, certificate imported', async () => {
    page = await context.newPage();
    await page.goto(origin);
    await shot(page, 'enrol-start');
    await page.getByTestId('enrol-username').fill('alice');
    await page.getByTestId('enrol-generate').click();
    const csrBox = page.getByTestId('csr');
    await csrBox.waitFor({ timeout: STEP_MS });
    const csr = await csrBox.inputValue();
    assert.match(csr, /-----BEGIN CERTIFICATE REQUEST-----/);
    await shot(page, 'enrol-certificate');
    const csrFile = join(data, 'alice.csr');
    const certFile = join(data, 'alice_cert.pem');
    writeFileSync(csrFile, csr);
    const issued = await runCli(['ca', 'issue', 'client', 'alice', '--dir', pki.dir, '--csr', csrFile, '--out', certFile]);
    assert.equal(issued.code, 0, issued.stderr);
    // The user pastes the certificate and the root the operator sent (this server may not publish its root).
    await page.getByTestId('cert-pem').fill(readFileSync(certFile, 'utf8') + readFileSync(join(pki.dir, 'root_ca.pem'), 'utf8'));
    await page.getByTestId('cert-import').click();
    await page.getByTestId('login').waitFor({ timeout: STEP_MS });
  });

  test('the stored private key is a non-extractable CryptoKey: exportKey rejects', async () => {
    const result = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('securechat');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const id = await new Promise<{ privateKey: CryptoKey }>((resolve, reject) => {
        const r = db.transaction('kv').objectStore('kv').get('identity');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const attempts: string[] = [];
      for (const format of ['pkcs8', 'jwk'] as const) {
        try {
          await crypto.subtle.exportKey(format, id.privateKey);
          attempts.push(`${format}: exported!`);
        } catch (err) {
          attempts.push(`${format}: ${(err as DOMException).name}`);
        }
      }
      return { isCryptoKey: id.privateKey instanceof CryptoKey, extractable: id.privateKey.extractable, usages: id.privateKey.usages, attempts };
    });
    assert.equal(result.isCryptoKey, true);
    assert.equal(result.extractable, false);
    assert.deepEqual(result.usages, ['sign']);
    assert.deepEqual(result.attempts, ['pkcs8: InvalidAccessError', 'jwk: InvalidAccessError']);
  });

  test('register in the page; the handshake validated the server chain for "localhost"', async () => {
    await shot(page, 'login');
    await page.getByTestId('password').fill(TEST_PASSWORD);
    await page.getByTestId('register-submit').click();
    await page.locator('[data-testid=status][data-phase=ready]').waitFor({ timeout: STEP_MS });
  });

  test('DMs both ways with a Node client, and presence', async () => {
    bob = await nodeLogin('bob');
    await page.getByTestId('online-bob').waitFor({ timeout: STEP_MS });
    await page.getByTestId('online-bob').click();
    const got = pushOf<{ text: string; from: string }>(bob, 'message');
    await page.getByTestId('composer').fill('hi bob, from Chromium');
    await page.getByTestId('send').click();
    assert.deepEqual(await got.then((m) => [m.from, m.text]), ['alice', 'hi bob, from Chromium']);
    await bob.request('dm', { to: 'alice', text: 'hello alice, from node' });
    await page.getByText('hello alice, from node').waitFor({ timeout: STEP_MS });
    await shot(page, 'chat-dm');
  });

  test('files: the page uploads one, the Node client fetches it with its sha256; and back', async () => {
    // The largest file the server takes by default (maxFileBytes = 10 MiB): many chunks, all sealed by WebCrypto.
    const upload = randomBytes(10 * 1024 * 1024);
    const offered = pushOf<{ id: number; kind: string; file: { name: string; size: number; sha256: string } }>(bob, 'message', (m) => m.kind === 'file');
    await page.getByTestId('file-input').setInputFiles({ name: 'report.bin', mimeType: 'application/octet-stream', buffer: upload });
    const msg = await offered;
    assert.equal(msg.file.size, upload.length);
    assert.equal(msg.file.sha256, createHash('sha256').update(upload).digest('hex'));
    const chunks: Buffer[] = [];
    const off = bob.onPush('file_data', (_m, d) => d && chunks.push(d));
    await bob.request('file_get', { message_id: msg.id });
    off();
    assert.ok(Buffer.concat(chunks).equals(upload), 'bob got the bytes the page sent');
    await page.locator('[data-testid=transfers] li[data-state=ok]').first().waitFor({ timeout: STEP_MS });

    // bob → alice: a file through the protocol, saved from the page with its sha256 checked.
    const back = randomBytes(10 * 1024 * 1024);
    const sha = createHash('sha256').update(back).digest('hex');
    const offer = await bob.request<{ transfer_id: string; chunk_size: number }>('file_offer', { to: 'alice', name: 'photo.jpg', size: back.length, sha256: sha });
    for (let o = 0; o < back.length; o += offer.chunk_size) await bob.request('file_chunk', { transfer_id: offer.transfer_id, offset: o }, back.subarray(o, o + offer.chunk_size));
    await bob.request('file_complete', { transfer_id: offer.transfer_id });
    const save = page.locator('[data-testid=message]', { hasText: 'photo.jpg' }).getByTestId('file-save');
    await save.waitFor({ timeout: STEP_MS });
    await shot(page, 'chat-files');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: STEP_MS }), save.click()]);
    assert.equal(download.suggestedFilename(), 'photo.jpg');
    const saved = readFileSync((await download.path())!);
    assert.equal(createHash('sha256').update(saved).digest('hex'), sha);
  });

  test('a message sent while the page was closed arrives after logging in again', async (t) => {
    await page.close();
    await new Promise((r) => setTimeout(r, 300));
    await bob.request('dm', { to: 'alice', text: 'sent while you were away' });
    page = await context.newPage();
    await page.goto(origin);
    // Seen once in CI: the reopened page's first connection failed and it offered "Connect" (what a
    // user would click). Recorded as a diagnostic so the cause can be chased, not hidden.
    const password = page.getByTestId('password');
    const connect = page.getByRole('button', { name: 'Connect' });
    await password.or(connect).first().waitFor({ timeout: STEP_MS });
    if (await connect.isVisible()) {
      t.diagnostic(`reopened page offline at first: ${(await page.getByTestId('login').innerText()).replace(/\s+/g, ' ')}`);
      await connect.click();
    }
    await password.fill(TEST_PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.locator('[data-testid=status][data-phase=ready]').waitFor({ timeout: STEP_MS });
    await page.getByTestId('conv-dm:bob').click();
    await page.getByText('sent while you were away').waitFor({ timeout: STEP_MS });
  });

  test('automatic reconnect after the socket drops; what was written meanwhile is sent once', async () => {
    const got = pushOf<{ text: string }>(bob, 'message', (m) => m.text === 'written while reconnecting');
    await page.evaluate(() => (globalThis as unknown as { securechat: { dropConnection(): void } }).securechat.dropConnection());
    await page.locator('[data-testid=status][data-phase=reconnecting]').waitFor({ timeout: STEP_MS });
    await page.getByTestId('composer').fill('written while reconnecting');
    await page.getByTestId('send').click();
    await page.locator('[data-testid=status][data-phase=ready]').waitFor({ timeout: STEP_MS });
    await got;
    await page.locator('[data-testid=message]', { hasText: 'written while reconnecting' }).waitFor({ timeout: STEP_MS });
    const history = await bob.request<{ messages: Array<{ text: string }> }>('history', { with: 'alice', limit: 10 });
    assert.equal(history.messages.filter((m) => m.text === 'written while reconnecting').length, 1);
    await bob.request('dm', { to: 'alice', text: 'after the reconnect' });
    await page.getByText('after the reconnect').waitFor({ timeout: STEP_MS });
  });

  test('groups: create, add a member, messages, roles', async () => {
    await page.getByTestId('group-new').fill('team');
    await page.getByTestId('group-new').press('Enter');
    await page.getByTestId('group-panel').waitFor({ timeout: STEP_MS });
    const added = pushOf<{ event: string; group: string }>(bob, 'group_event', (m) => m.event === 'added');
    await page.getByTestId('group-add').fill('bob');
    await page.getByTestId('group-add').press('Enter');
    assert.equal((await added).group, 'team');
    await page.getByTestId('member-bob').waitFor({ timeout: STEP_MS });
    await bob.request('group_send', { group: 'team', text: 'hello team' });
    await page.getByText('hello team').waitFor({ timeout: STEP_MS });
    const promoted = pushOf<{ event: string; role?: string }>(bob, 'group_event', (m) => m.event === 'role');
    await page.getByTestId('member-bob').getByText('make admin').click();
    assert.equal((await promoted).role, 'admin');
    await page.getByTestId('member-bob').getByText('admin', { exact: true }).waitFor({ timeout: STEP_MS });
    await shot(page, 'chat-group');
  });

  test('phone width: one column, the conversation list behind the menu button', async () => {
    await page.setViewportSize({ width: 390, height: 780 });
    await shot(page, 'phone-conversation');
    await page.getByLabel('Conversations').click();
    await page.getByTestId('sidebar').waitFor({ state: 'visible', timeout: STEP_MS });
    await shot(page, 'phone-menu');
    await page.setViewportSize({ width: 1100, height: 720 });
  });

  test('history: scroll-back fetches the page before the oldest message shown', async () => {
    const carol = await nodeLogin('carol');
    for (let i = 1; i <= 60; i++) await carol.request('dm', { to: 'alice', text: `history line ${i}` });
    // The page got (and acknowledged) them as pushes; a fresh page starts from history instead.
    await page.getByTestId('conv-dm:carol').waitFor({ timeout: STEP_MS });
    await page.waitForTimeout(500);
    await page.reload();
    await page.getByTestId('password').fill(TEST_PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.locator('[data-testid=status][data-phase=ready]').waitFor({ timeout: STEP_MS });
    await page.getByTestId('dm-to').fill('carol');
    await page.getByTestId('dm-to').press('Enter');
    await page.getByText('history line 60', { exact: true }).waitFor({ timeout: STEP_MS });
    assert.equal(await page.getByText('history line 1', { exact: true }).count(), 0, 'the first page holds only the newest 50');
    await page.getByTestId('messages').evaluate((el) => el.scrollTo(0, 0));
    await page.getByText('history line 1', { exact: true }).waitFor({ timeout: STEP_MS });
    assert.equal(await page.getByTestId('message').count(), 60);
  });

  test('groups: an owner removes a member; leaving drops the group from the page', async () => {
    await page.getByTestId('conv-group:team').click();
    await page.getByTestId('member-bob').waitFor({ timeout: STEP_MS });
    const removed = pushOf<{ event: string; user?: string }>(bob, 'group_event', (m) => m.event === 'removed');
    await page.getByTestId('remove-bob').click();
    assert.equal((await removed).user, 'bob');
    await page.getByTestId('member-bob').waitFor({ state: 'detached', timeout: STEP_MS });
    await page.getByTestId('group-leave').click();
    await page.getByTestId('conv-group:team').waitFor({ state: 'detached', timeout: STEP_MS });
    const groups = await bob.request<{ groups: unknown[] }>('group_list');
    assert.deepEqual(groups.groups, []);
  });
  test('DMs both ways with a real `securechat chat --json` process', async () => {
    (await nodeLogin('carol')).close(); // registered (an earlier test may have done it already)
    const cli = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, 'chat', '--port', String(serve.port), '--server-name', 'localhost', '--certs', pki.dir, '--user', 'carol', '--json', '--listen'], {
      env: { ...process.env, SECURECHAT_PASSWORD: TEST_PASSWORD, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const events = (): Record<string, unknown>[] =>
      out
        .slice(0, out.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const until = async (what: string, cond: () => boolean): Promise<void> => {
      const end = Date.now() + STEP_MS;
      while (!cond()) {
        if (Date.now() > end || cli.exitCode !== null) throw new Error(`${what}: stdout ${out} stderr ${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    try {
      await until('the CLI is ready', () => events().some((e) => e.event === 'ready'));
      cli.stdin.write(JSON.stringify({ command: '/msg alice hello from the terminal', ref: 'cli-1' }) + '\n');
      await until('the send result', () => events().some((e) => e.event === 'result' && e.ref === 'cli-1'));
      await page.getByTestId('conv-dm:carol').click();
      await page.getByText('hello from the terminal').waitFor({ timeout: STEP_MS });
      await page.getByTestId('composer').fill('hi carol, from the page');
      await page.getByTestId('send').click();
      await until('the page message on the CLI', () => events().some((e) => e.event === 'message' && e.from === 'alice' && e.text === 'hi carol, from the page'));
    } finally {
      cli.kill('SIGTERM');
    }
  });
});
