/**
 * Issue 12: the REPL of the real `securechat chat` in a real terminal (tmux), against the real
 * `securechat serve` process: password prompts (typeahead neither echoed nor used, re-asked up to
 * 3 times), and a server restart on the same port and database while a line is half typed — the
 * REPL says "reconnecting…", keeps the line, sends what was entered meanwhile once it is back;
 * and the main flows with two people in two terminals across a restart.
 *
 * SECURECHAT_CAPTURE_DIR=DIR saves the screens of the two-terminal test there (the README's
 * captures come from it).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { ChatClient, type ChatMessage } from '../../src/client/chat-client.js';
import { makeTestPki, TEST_PASSWORD, userIdentity, type TestPki } from '../helpers/chat-server.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { SchemaSet } from '../helpers/json-schema.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { CLI_ENTRY, TmuxTerminal, tmuxSkip } from '../helpers/tmux.js';

const noTmux = tmuxSkip();
/** A restart under load: serve starting again plus a backoff step (≤ 10 s). */
const RECONNECT_MS = 90_000;
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
    // No Enter: whether it lands before the prompt (swallowed) or in it (part of a wrong password), it must not show.
    term.type('typed-ahead-secret', false);
    await term.waitForText('Password for alice:');
    term.type('a wrong password');
    // Typed while the server checks the wrong one: swallowed too, neither shown nor the next answer.
    term.type('typed-while-checking', false);
    await term.waitForText(/Wrong password for alice.*Try again \(2 of 3\)/);
    await term.waitFor((s) => (s.match(/Password for alice:/g) ?? []).length === 2, 'the second prompt');
    term.type(TEST_PASSWORD);
    const s = await term.waitForText('Connected as alice');
    for (const secret of ['typed-ahead-secret', 'a wrong password', 'typed-while-checking', TEST_PASSWORD]) assert.ok(!s.includes(secret), `"${secret}" was shown:\n${s}`);
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
  // Script mode rides the same restart: its reconnecting/reconnected lines follow their schemas.
  const script = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...conn('carol'), '--json', '--listen'], { env: { ...process.env, SECURECHAT_PASSWORD: TEST_PASSWORD } });
  script.stdin.end();
  let scriptOut = '';
  script.stdout.on('data', (d: Buffer) => (scriptOut += d.toString()));
  const scriptExit = new Promise<number>((resolve) => script.on('exit', (code) => resolve(code ?? -1)));
  await waitUntil(() => scriptOut.includes('"caught_up"'), 'the script client to be ready');
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
    let s = await term.waitForText(/\nreconnected\n/, RECONNECT_MS);
    assert.equal((s.match(/reconnecting…/g) ?? []).length, 1, `one "reconnecting…" line, updated in place:\n${s}`);
    s = await term.waitForText(/alice → bob: entered while down ✓/, RECONNECT_MS);
    assert.match(s.split('\n').at(-1) ?? '', /alice → bob> half a li$/, `the line being typed survived:\n${s}`);
    term.type('ne');
    await waitUntil(() => b.got.some((m) => m.text === 'half a line'), 'bob to get the finished line');
    await waitUntil(() => b.got.filter((m) => m.text === 'entered while down').length === 1, 'the queued line, once');
    term.type('/quit');
    assert.equal(await term.exitCode(), 0, term.screen());
    await waitUntil(() => scriptOut.includes('"reconnected"'), 'the script client to reconnect');
  } finally {
    term.close();
    script.kill('SIGTERM');
  }
  assert.equal(await scriptExit, 0);
  assert.equal(b.got.filter((m) => m.text === 'entered while down').length, 1, 'sent exactly once');
  const schemas = new SchemaSet(join(REPO_ROOT, 'docs', 'schemas'));
  const lines = scriptOut
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const l of lines) assert.deepEqual(schemas.validate(`${String(l.event)}.schema.json`, l), [], JSON.stringify(l));
  const events = lines.map((l) => l.event);
  assert.ok(events.includes('reconnecting') && events.includes('reconnected'), JSON.stringify(events));
  assert.ok(events.indexOf('reconnecting') < events.indexOf('reconnected'));
});

/** Saves a screen for the README when SECURECHAT_CAPTURE_DIR is set. */
function capture(name: string, screen: string): void {
  const dir = process.env.SECURECHAT_CAPTURE_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.txt`), screen + '\n');
}

test('main flows, two people in two terminals: DMs both ways, a group, a file, a server restart, history', { skip: noTmux }, async () => {
  const a = new TmuxTerminal();
  const b = new TmuxTerminal();
  const file = join(work, 'agenda.txt');
  writeFileSync(file, 'monday: ship it\n');
  const dl = join(work, 'bob-downloads');
  try {
    a.start(conn('alice'), { NO_COLOR: '1', SECURECHAT_PASSWORD: TEST_PASSWORD });
    b.start([...conn('bob'), '--download-dir', dl], { NO_COLOR: '1', SECURECHAT_PASSWORD: TEST_PASSWORD });
    await a.waitForText('Connected as alice');
    await b.waitForText('Connected as bob');

    b.type('/query alice');
    await b.waitForText('bob → alice>');
    a.type('/query bob');
    await a.waitForText('alice → bob>');
    a.type('hi bob, lunch today?');
    await b.waitForText(/\[\d\d:\d\d\] alice → bob: hi bob, lunch today\?/);
    await a.waitForText(/alice → bob: hi bob, lunch today\? ✓✓/);
    b.type('sure, 12:30');
    await a.waitForText(/\[\d\d:\d\d\] bob → alice: sure, 12:30/);
    await b.waitForText(/bob → alice: sure, 12:30 ✓✓/);

    a.type('/group create team');
    await a.waitForText('created #team');
    a.type('/group add team bob');
    await b.waitForText('* alice added you to #team');
    a.type('/q #team');
    await a.waitForText('alice → #team>');
    a.type('standup in 5');
    await b.waitForText(/» \[\d\d:\d\d\] alice → #team: standup in 5 {2}\(in #team: \/q #team\)/);

    a.type(`/send bob ${file}`);
    await b.waitForText(/\[file saved\] from alice → bob: .*agenda\.txt/);
    assert.equal(readFileSync(join(dl, 'agenda.txt'), 'utf8'), 'monday: ship it\n');
    await a.waitForText(/alice → bob: \[file\] agenda\.txt \(16 B\) ✓✓/);
    b.type('/list');
    await b.waitForText(/Conversations:[\s\S]*#team\s+1 unread/);
    capture('conversation-alice', a.screen());
    capture('conversation-bob', b.screen());

    // The server restarts on the same port and database.
    assert.equal(await serve.stop(), 0);
    await a.waitForText('reconnecting…');
    await b.waitForText('reconnecting…');
    b.type('typed while the server was down');
    await b.waitForText(/bob → alice: typed while the server was down …/);
    serve = await startServe(serveArgs(port));
    await a.waitForText(/\nreconnected\n/, RECONNECT_MS);
    await b.waitForText(/\nreconnected\n/, RECONNECT_MS);
    await a.waitForText(/» \[\d\d:\d\d\] bob → alice: typed while the server was down/, RECONNECT_MS);
    await b.waitForText(/bob → alice: typed while the server was down ✓/, RECONNECT_MS);

    a.type('/history bob');
    const s = await a.waitForText(/— \w+day \d{1,2} \w+ \d{4} —\n(\[\d\d:\d\d\] .*\n)*\[\d\d:\d\d\] bob → alice: typed while the server was down/);
    assert.match(s, /alice → bob: \[file\] agenda\.txt/);
    capture('restart-alice', a.screen());
    capture('restart-bob', b.screen());
    a.type('/quit');
    b.type('/quit');
    assert.equal(await a.exitCode(), 0, a.screen());
    assert.equal(await b.exitCode(), 0, b.screen());
  } finally {
    a.close();
    b.close();
  }
});
