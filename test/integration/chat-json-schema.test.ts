/**
 * Issue 12, `--json`: one envelope. Real `securechat chat --json` processes go through every
 * command and the events they cause (messages, files, a failed download, receipts, presence,
 * group events, errors of each phase); every line must carry `event`, validate against
 * docs/schemas/<event>.schema.json, and a command tagged with a `ref` gets it back on its result.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChatServer, TEST_PASSWORD, type TestChatServer } from '../helpers/chat-server.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { SchemaSet } from '../helpers/json-schema.js';
import { CLI_ENTRY } from '../helpers/tmux.js';

const SCHEMA_DIR = join(REPO_ROOT, 'docs', 'schemas');
const schemas = new SchemaSet(SCHEMA_DIR);
const env = { SECURECHAT_PASSWORD: TEST_PASSWORD, NO_COLOR: '1' };
let srv: TestChatServer;
let work: string;
const seen = new Map<string, number>();

function conn(user: string): string[] {
  return ['chat', '--port', String(srv.port), '--server-name', 'localhost', '--certs', srv.pki.dir, '--user', user];
}

/** Every stdout line is one JSON object with an `event` that has a schema, and it validates. */
function checkLines(stdout: string, who: string): Record<string, unknown>[] {
  const lines = stdout.split('\n').filter((l) => l.trim());
  return lines.map((text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    assert.equal(typeof line.event, 'string', `${who}: a line without "event": ${text}`);
    const file = `${String(line.event)}.schema.json`;
    assert.ok(existsSync(join(SCHEMA_DIR, file)), `${who}: no schema for event "${String(line.event)}": ${text}`);
    const errors = schemas.validate(file, line);
    assert.deepEqual(errors, [], `${who}: ${text}`);
    seen.set(String(line.event), (seen.get(String(line.event)) ?? 0) + 1);
    return line;
  });
}

/** `chat --json --listen` with stdin kept open: write commands, wait for lines. */
function session(user: string, extra: string[] = []) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...conn(user), '--json', '--listen', ...extra], { env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  const lines = (): Record<string, unknown>[] =>
    out
      .slice(0, out.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    send: (line: string) => child.stdin.write(line + '\n'),
    async waitFor(pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines().find(pred);
        if (hit) return hit;
        if (Date.now() > until) throw new Error(`${user}: no ${what}; stdout:\n${out}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** Ends the session; the exit code must be `code` (1 when a command failed). */
    async stop(code = 0): Promise<string> {
      child.stdin.end();
      child.kill('SIGTERM');
      assert.equal(await exited, code, err);
      return out;
    },
  };
}

before(async () => {
  srv = await startChatServer();
  work = mkdtempSync(join(tmpdir(), 'sc-json-'));
});

after(async () => {
  await srv.close();
  rmSync(work, { recursive: true, force: true });
});

test('every --json line of real sessions validates against its schema; refs come back on results and errors', async () => {
  // Registration runs: ready + caught_up.
  for (const u of ['alice', 'bob', 'carol']) {
    const r = await runCli([...conn(u), '--register', '--json'], { env, input: '' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    checkLines(r.stdout, `register ${u}`);
  }
  const file = join(work, 'notes.txt');
  writeFileSync(file, 'some notes\n');
  // carol's downloads go to a path under a regular file: her download fails (file_error).
  writeFileSync(join(work, 'not-a-dir'), '');

  const bob = session('bob', ['--download-dir', join(work, 'bob-dl')]);
  const carol = session('carol', ['--download-dir', join(work, 'not-a-dir', 'dl')]);
  const alice = session('alice');
  await bob.waitFor((l) => l.event === 'ready', 'ready');
  await carol.waitFor((l) => l.event === 'ready', 'ready');
  await alice.waitFor((l) => l.event === 'caught_up', 'caught_up');

  const script = [
    '/help',
    '/help query',
    '/who',
    '{"command": "/msg bob tagged hello", "ref": 42}',
    '{"command": "/msg nobody hi", "ref": "r-2"}',
    '/query bob',
    'a plain line in conversation mode',
    '/q',
    '/group create team',
    '/group add team bob',
    '/group add team carol',
    '/group info team',
    '/group list',
    '/g team hello team',
    '/group promote team bob',
    '/group demote team bob',
    '/group rename team crew',
    `/send bob ${file}`,
    `/send carol ${file}`,
    '/history bob',
    '/list',
    '/passwd wrong-old-password a-new-passphrase-2',
    '{"command": 5}',
    'no slash',
    '/group remove crew carol',
    '/group create spare',
    '/group leave spare',
    '/group delete crew',
  ];
  for (const line of script) alice.send(line);
  await alice.waitFor((l) => l.event === 'result' && l.command === '/group delete crew', 'the last result');
  await bob.waitFor((l) => l.event === 'file', 'the file at bob');
  await carol.waitFor((l) => l.event === 'file_error', 'the failed download at carol');
  await alice.waitFor((l) => l.event === 'delivered', 'a receipt');

  const aliceLines = checkLines(await alice.stop(1), 'alice');
  checkLines(await bob.stop(), 'bob');
  checkLines(await carol.stop(), 'carol');

  const tagged = aliceLines.filter((l) => l.ref !== undefined);
  assert.deepEqual(
    tagged.map((l) => [l.event, l.ref, l.command, l.code ?? null]),
    [
      ['result', 42, '/msg bob tagged hello', null],
      ['error', 'r-2', '/msg nobody hi', 'unknown_user'],
    ],
  );
  assert.ok(aliceLines.some((l) => l.event === 'error' && l.command === '{"command": 5}' && l.code === 'usage'), 'a bad JSON input line is a usage error');
  assert.ok(aliceLines.some((l) => l.event === 'result' && l.command === '/passwd ***') === false, 'the password never appears');
  assert.ok(!JSON.stringify(aliceLines).includes('wrong-old-password'));

  // Failures before the session: connect and login are error events too.
  const wrong = await runCli([...conn('alice'), '--json'], { env: { ...env, SECURECHAT_PASSWORD: 'not the password' }, input: '' });
  assert.equal(wrong.code, 1);
  assert.equal(checkLines(wrong.stdout, 'wrong password')[0].phase, 'login');
  const nowhere = await runCli(['chat', '--port', '1', '--certs', srv.pki.dir, '--user', 'alice', '--json'], { env, input: '' });
  assert.equal(checkLines(nowhere.stdout, 'nothing listening')[0].phase, 'connect');
  const usage = await runCli(['chat', '--port', 'x', '--certs', srv.pki.dir, '--user', 'alice', '--json'], { env, input: '' });
  assert.equal(checkLines(usage.stdout, 'bad flag')[0].phase, 'start');

  // Each documented event was seen (reconnecting/reconnected and warning in chat-repl-session).
  const documented = readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .map((f) => f.replace('.schema.json', ''));
  const notHere = new Set(['reconnecting', 'reconnected', 'warning']);
  for (const ev of documented) if (!notHere.has(ev)) assert.ok(seen.has(ev), `event "${ev}" was never produced: ${JSON.stringify([...seen])}`);
});
