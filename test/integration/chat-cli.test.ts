/**
 * `securechat chat` as a child process in script mode (--json) against a real server: two users,
 * DM, group, file; failures give exit 1 and coded errors; refused certificates print the
 * documented line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTestPki, startChatServer, TEST_PASSWORD, type TestChatServer, type TestPki } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
let srv: TestChatServer;
let rogue: TestPki;
let work: string;
const env = { SECURECHAT_PASSWORD: TEST_PASSWORD, NO_COLOR: '1' };

before(async () => {
  srv = await startChatServer();
  rogue = await makeTestPki(['mallory']);
  work = mkdtempSync(join(tmpdir(), 'sc-chatcli-'));
});

after(async () => {
  await srv.close();
  rmSync(rogue.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

function conn(user: string): string[] {
  return ['chat', '--port', String(srv.port), '--server-name', 'localhost', '--certs', srv.pki.dir, '--user', user];
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A long-running `chat --listen --json`, with a way to wait for a matching line. */
function listener(args: string[], opts: { keepStdinOpen?: boolean } = {}) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { env: { ...process.env, ...env } });
  if (!opts.keepStdinOpen) child.stdin.end();
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitFor(pred: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what}; stdout so far: ${JSON.stringify(lines)} stderr: ${stderr}`)), 20_000);
        waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
  };
}

test('two users: DM, group and file, scripted with --json', async () => {
  // alice registers first (and then exits: nothing to do yet).
  const reg = await runCli([...conn('alice'), '--register', '--json'], { env, input: '' });
  assert.equal(reg.code, 0, reg.stderr + reg.stdout);

  const downloads = join(work, 'bob-dl');
  const bob = listener([...conn('bob'), '--register', '--json', '--listen', '--download-dir', downloads]);
  await bob.waitFor((l) => l.event === 'ready', 'ready line from bob');

  const file = join(work, 'notes.txt');
  const content = randomBytes(70_000);
  writeFileSync(file, content);
  const sha = createHash('sha256').update(content).digest('hex');
  const script = ['/who', '/msg bob hi there', '/group create team', '/group add team bob', '/g team hello team', `/send bob ${file}`, ''].join('\n');
  const alice = await runCli([...conn('alice'), '--json'], { env, input: script });
  assert.equal(alice.code, 0, alice.stderr + alice.stdout);
  const results = jsonLines(alice.stdout).filter((l) => l.event === 'result');
  assert.deepEqual(
    results.map((r) => [r.command, r.ok]),
    [
      ['/who', true],
      ['/msg bob hi there', true],
      ['/group create team', true],
      ['/group add team bob', true],
      ['/g team hello team', true],
      [`/send bob ${file}`, true],
    ],
  );
  const who = results[0].users as { username: string }[];
  assert.ok(who.some((u) => u.username === 'bob'));

  const dm = await bob.waitFor((l) => l.event === 'message' && l.text === 'hi there', 'DM at bob');
  assert.equal(dm.from, 'alice');
  assert.equal(dm.to, 'bob');
  assert.equal(dm.id, results[1].id);
  const gm = await bob.waitFor((l) => l.event === 'message' && l.group === 'team', 'group message at bob');
  assert.equal(gm.text, 'hello team');
  const f = await bob.waitFor((l) => l.event === 'file', 'file at bob');
  assert.equal(f.from, 'alice');
  assert.equal(f.name, 'notes.txt');
  assert.equal(f.sha256, sha);
  assert.equal(f.path, join(downloads, 'notes.txt'));
  assert.deepEqual(readFileSync(String(f.path)), content);

  bob.child.kill('SIGTERM');
  assert.equal(await bob.exited, 0, bob.stderr());
});

test('a failed command makes the run exit 1 with coded errors; nothing is sent for bad syntax', async () => {
  const script = ['/msg nobody hello', '/msg bob', '/frob', '/group add', '/who', ''].join('\n');
  const r = await runCli([...conn('alice'), '--json'], { env, input: script });
  assert.equal(r.code, 1);
  const lines = jsonLines(r.stdout);
  const errors = lines.filter((l) => l.event === 'error');
  assert.deepEqual(
    errors.map((e) => [e.command, e.code]),
    [
      ['/msg nobody hello', 'unknown_user'],
      ['/msg bob', 'usage'],
      ['/frob', 'usage'],
      ['/group add', 'usage'],
    ],
  );
  assert.ok(lines.some((l) => l.event === 'result' && l.command === '/who' && l.ok === true));
});

test('plain (non-JSON) script output and the password never echoed', async () => {
  const r = await runCli([...conn('alice')], { env, input: '/passwd wrong-old-pass brand-new-passphrase-1\n/group list\n' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error: auth_failed/);
  assert.ok(!r.stderr.includes('wrong-old-pass') && !r.stdout.includes('wrong-old-pass'));
  assert.match(r.stdout, /#team/);
});

test('the server refusing our certificate prints the documented line and exits 1', async () => {
  const r = await runCli(
    ['chat', '--port', String(srv.port), '--server-name', 'localhost', '--ca', join(srv.pki.dir, 'root_ca.pem'), '--cert', join(rogue.dir, 'mallory_cert.pem'), '--key', join(rogue.dir, 'mallory_key.pem')],
    { env, input: '/who\n' },
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^\[Client\] Server rejected certificate – closing connection \(untrusted\)$/m);
});

test('refusing the server certificate names the reason', async () => {
  const r = await runCli([...conn('alice').filter((a) => a !== 'localhost' && a !== '--server-name'), '--server-name', 'chat.example.org'], { env, input: '/who\n' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^\[Client\] Refusing server certificate \(name_mismatch\): /m);
});

test('missing credentials and bad flags are usage errors (exit 2)', async () => {
  const r = await runCli(['chat', '--port', String(srv.port), '--certs', srv.pki.dir], { env, input: '' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--certs DIR --user NAME/);
  const noPw = await runCli(conn('alice'), { env: { SECURECHAT_PASSWORD: '' }, input: '' });
  assert.equal(noPw.code, 2);
  assert.match(noPw.stderr, /--password-file/);
});

test('group names with spaces are quoted the same way in every command', async () => {
  const file = join(work, 'spaced name.txt');
  writeFileSync(file, 'spaced content');
  const script = ['/group create "my team"', '/group add "my team" bob', '/g "my team" hello spaced world', `/send "#my team" "${file}"`, '/history "#my team"', '/group info #"my team"', ''].join('\n');
  const r = await runCli([...conn('alice'), '--json'], { env, input: script });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const results = jsonLines(r.stdout).filter((l) => l.event === 'result');
  assert.equal(results.length, 6, r.stdout);
  assert.equal((results[0].group as { name: string }).name, 'my team');
  const history = results[4].messages as { text: string; group: string; kind: string }[];
  assert.deepEqual(
    history.map((m) => [m.group, m.kind, m.text]),
    [
      ['my team', 'text', 'hello spaced world'],
      ['my team', 'file', ''],
    ],
  );
  assert.deepEqual((results[5].members as { username: string }[]).map((m) => m.username).sort(), ['alice', 'bob']);
  const bad = await runCli([...conn('alice'), '--json'], { env, input: '/group create my team\n' });
  assert.equal(bad.code, 1);
  assert.match(String(jsonLines(bad.stdout).find((l) => l.event === 'error')?.message), /need quotes/);
});

test('--listen with stdin still open (a pipe that never ends): SIGTERM ends the run, exit 0', async () => {
  // alice exists from the first test; a command first, so the run is really reading its input.
  const l = listener([...conn('alice'), '--json', '--listen'], { keepStdinOpen: true });
  await l.waitFor((x) => x.event === 'ready', 'ready');
  l.child.stdin.write(JSON.stringify({ command: '/who', ref: 'w' }) + '\n');
  await l.waitFor((x) => x.event === 'result' && x.ref === 'w', 'the /who result');
  l.child.kill('SIGTERM');
  assert.equal(await l.exited, 0, l.stderr());
});
