/**
 * Issue 12: the REPL of the real `securechat chat` in a real terminal (tmux), against the real
 * `securechat serve` process: password prompts (typeahead neither echoed nor used, re-asked up to
 * 3 times), and a server restart on the same port and database while a line is half typed — the
 * REPL says "reconnecting…", keeps the line, sends what was entered meanwhile once it is back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatClient, type ChatMessage } from '../../src/client/chat-client.js';
import { makeTestPki, TEST_PASSWORD, userIdentity, type TestPki } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { TmuxTerminal, tmuxSkip } from '../helpers/tmux.js';

const noTmux = tmuxSkip();
let pki: TestPki;
let work: string;
let serve: ServeProcess;
let port: number;
const opened: ChatClient[] = [];

function serveArgs(p: number): string[] {
  return ['--port', String(p), '--host', '127.0.0.1', '--certs', pki.dir, '--no-generate', '--db', `sqlite:${join(work, 'chat.db')}`, '--log-file', join(work, 'server.log')];
}

function conn(user: string): string[] {
  return ['chat', '--port', String(port), '--server-name', 'localhost', '--certs', pki.dir, '--user', user];
}

async function waitUntil(pred: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** bob through the library (reconnecting too), recording what he receives. */
async function bob(): Promise<{ chat: ChatClient; got: ChatMessage[] }> {
  const chat = await ChatClient.connect({
    host: '127.0.0.1',
    port,
    serverName: 'localhost',
    identity: userIdentity(pki, 'bob'),
    trust: pki.trust,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
  });
  opened.push(chat);
  await chat.login(TEST_PASSWORD);
  const got: ChatMessage[] = [];
  chat.consume((ev) => {
    if (ev.type === 'message') got.push(ev.message);
  });
  return { chat, got };
}

before(async () => {
  pki = await makeTestPki(['alice', 'bob', 'carol']);
  work = mkdtempSync(join(tmpdir(), 'sc-repl-session-'));
  serve = await startServe(serveArgs(0));
  port = serve.port;
  for (const u of ['alice', 'bob', 'carol']) {
    const r = await runCli([...conn(u), '--register', '--json'], { env: { SECURECHAT_PASSWORD: TEST_PASSWORD }, input: '' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }
});

after(async () => {
  for (const c of opened) c.close();
  await serve?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

test('password prompt: typeahead is not echoed, a wrong password is asked again (2 of 3), the password never shows', { skip: noTmux }, async () => {
  const term = new TmuxTerminal();
  try {
    term.start(conn('alice'), { NO_COLOR: '1' });
    // "Connecting…" is printed once the terminal is silenced: what is typed now is swallowed.
    await term.waitForText('Connecting to');
    term.type('typed-ahead-secret');
    await term.waitForText('Password for alice:');
    term.type('a wrong password');
    await term.waitForText(/Wrong password for alice.*Try again \(2 of 3\)/);
    await term.waitFor((s) => (s.match(/Password for alice:/g) ?? []).length === 2, 'the second prompt');
    term.type(TEST_PASSWORD);
    const s = await term.waitForText('Connected as alice');
    for (const secret of ['typed-ahead-secret', 'a wrong password', TEST_PASSWORD]) assert.ok(!s.includes(secret), `"${secret}" was shown:\n${s}`);
    term.type('/quit');
    assert.equal(await term.exitCode(), 0, term.screen());
  } finally {
    term.close();
  }
});

test('password prompt: after 3 wrong passwords it gives up with exit 1', { skip: noTmux }, async () => {
  const term = new TmuxTerminal();
  try {
    term.start(conn('carol'), { NO_COLOR: '1' });
    for (let i = 1; i <= 3; i++) {
      await term.waitFor((s) => (s.match(/Password for carol:/g) ?? []).length === i, `prompt ${i}`);
      term.type(`wrong password number ${i}`);
    }
    assert.equal(await term.exitCode(), 1, term.screen());
    const s = term.screen();
    assert.match(s, /Try again \(3 of 3\)/);
    assert.match(s, /error: auth_failed: Wrong password for carol/);
    assert.ok(!s.includes('wrong password number'), s);
  } finally {
    term.close();
  }
});

test('server restart: "reconnecting…", the half-typed line is kept, a line entered while down is sent once back', { skip: noTmux }, async () => {
  const b = await bob();
  const term = new TmuxTerminal();
  try {
    term.start(conn('alice'), { NO_COLOR: '1', SECURECHAT_PASSWORD: TEST_PASSWORD });
    await term.waitForText('Connected as alice');
    term.type('/query bob');
    await term.waitForText('alice → bob>');
    term.type('before the restart');
    await waitUntil(() => b.got.some((m) => m.text === 'before the restart'), 'bob to get the first line');

    assert.equal(await serve.stop(), 0);
    await term.waitForText(/reconnecting… \(attempt \d+/);
    term.type('entered while down');
    await term.waitForText(/alice → bob: entered while down …/);
    term.type('half a li', false);
    await term.waitFor((s) => (s.split('\n').at(-1) ?? '').endsWith('alice → bob> half a li'), 'the half-typed line');

    serve = await startServe(serveArgs(port));
    let s = await term.waitForText(/\nreconnected\n/);
    assert.equal((s.match(/reconnecting…/g) ?? []).length, 1, `one "reconnecting…" line, updated in place:\n${s}`);
    s = await term.waitForText(/alice → bob: entered while down ✓/);
    assert.match(s.split('\n').at(-1) ?? '', /alice → bob> half a li$/, `the line being typed survived:\n${s}`);
    term.type('ne');
    await waitUntil(() => b.got.some((m) => m.text === 'half a line'), 'bob to get the finished line');
    await waitUntil(() => b.got.filter((m) => m.text === 'entered while down').length === 1, 'the queued line, once');
    term.type('/quit');
    assert.equal(await term.exitCode(), 0, term.screen());
  } finally {
    term.close();
  }
  assert.equal(b.got.filter((m) => m.text === 'entered while down').length, 1, 'sent exactly once');
});
