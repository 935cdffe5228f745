/**
 * Issue 9 §1: what was sent while you were offline is shown — exactly once, in order — when the
 * real `securechat chat` process comes back, in every mode: script (`--json < /dev/null` prints
 * everything pending, then exits 0), `--listen`, and the interactive REPL in a real terminal
 * (tmux). On SQLite and MariaDB. Afterwards the server holds nothing pending for the user: what
 * was shown was acknowledged, and nothing shown was lost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatClient } from '../../src/client/chat-client.js';
import { startChatServer, TEST_PASSWORD, userIdentity, type TestChatServer } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';
import { mysqlSkip } from '../helpers/mysql.js';
import { CLI_ENTRY, TmuxTerminal, tmuxSkip } from '../helpers/tmux.js';

const env = { SECURECHAT_PASSWORD: TEST_PASSWORD, NO_COLOR: '1' };
const skipMysql = await mysqlSkip();
const noTmux = tmuxSkip();

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

function offlineSuite(backend: 'sqlite' | 'mysql'): void {
  let srv: TestChatServer;
  let alice: ChatClient;
  let work: string;
  let bobId: number;
  const tag = randomBytes(3).toString('hex');
  const GROUP = 'team two'; // a name with a space, on purpose

  const conn = (user: string): string[] => ['chat', '--port', String(srv.port), '--server-name', 'localhost', '--certs', srv.pki.dir, '--user', user];

  /** bob is offline: alice sends two DMs, a group message and a file; returns what to expect. */
  const sendWhileOffline = async (round: string) => {
    const content = randomBytes(40_000 + Math.floor(Math.random() * 1000));
    const path = join(work, `${round}-${tag}.bin`);
    writeFileSync(path, content);
    const texts = [`${round}-first-${tag}`, `${round}-group-${tag}`, `${round}-last-${tag}`];
    const ids = [(await alice.dm('bob', texts[0])).id, (await alice.groupSend(GROUP, texts[1])).id];
    const file = await alice.sendFile({ to: 'bob', path });
    ids.push(file.id, (await alice.dm('bob', texts[2])).id);
    return { texts, ids, fileName: `${round}-${tag}.bin`, sha: createHash('sha256').update(content).digest('hex'), content };
  };

  const pendingForBob = async (): Promise<number> => (await srv.storage.pendingFor(bobId, 100)).length;

  before(async () => {
    srv = await startChatServer({ backend });
    work = mkdtempSync(join(tmpdir(), `sc-offline-${backend}-`));
    alice = await ChatClient.connect({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', identity: userIdentity(srv.pki, 'alice'), trust: srv.pki.trust });
    await alice.register(TEST_PASSWORD);
    (await srv.login('bob')).close();
    bobId = (await srv.storage.getUserByName('bob'))!.id;
    await alice.groupCreate(GROUP);
    await alice.groupAdd(GROUP, 'bob');
  });

  after(async () => {
    alice?.close();
    await srv?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test(`script mode --json < /dev/null prints every pending message and file once, in order, then exits 0 (${backend})`, async () => {
    const sent = await sendWhileOffline('script');
    const dl = join(work, 'dl-script');
    const r = await runCli([...conn('bob'), '--json', '--download-dir', dl], { env, input: '' });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = jsonLines(r.stdout);
    assert.ok(lines.every((l) => typeof l.event === 'string'), 'every line has an event');
    const messages = lines.filter((l) => l.event === 'message');
    assert.deepEqual(
      messages.map((m) => m.id),
      sent.ids,
      'each pending message exactly once, in id order',
    );
    assert.deepEqual(
      messages.filter((m) => m.kind === 'text').map((m) => m.text),
      sent.texts,
    );
    assert.equal(messages[1].group, GROUP);
    const files = lines.filter((l) => l.event === 'file');
    assert.equal(files.length, 1);
    assert.equal(files[0].name, sent.fileName);
    assert.equal(files[0].sha256, sent.sha);
    assert.deepEqual(readFileSync(String(files[0].path)), sent.content);
    const caughtUp = lines.filter((l) => l.event === 'caught_up');
    assert.deepEqual(caughtUp.map((c) => c.pending), [4]);
    assert.ok(lines.indexOf(caughtUp[0]) > lines.indexOf(messages[3]), 'caught_up follows the replayed messages');
    assert.equal(await pendingForBob(), 0, 'everything shown was acknowledged');

    // Nothing new: a second run shows nothing again and still exits 0 at once.
    const again = await runCli([...conn('bob'), '--json', '--download-dir', dl], { env, input: '' });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      jsonLines(again.stdout).filter((l) => l.event === 'message'),
      [],
    );
  });

  test(`--listen --json prints what was pending once, in order, then live messages (${backend})`, async () => {
    const sent = await sendWhileOffline('listen');
    const dl = join(work, 'dl-listen');
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...conn('bob'), '--json', '--listen', '--download-dir', dl], { env: { ...process.env, ...env } });
    child.stdin.end();
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const waiters = new Set<() => void>();
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const w of [...waiters]) w();
    });
    const waitLine = (pred: (l: Record<string, unknown>) => boolean, what: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): boolean => jsonLines(out.slice(0, out.lastIndexOf('\n') + 1)).some(pred);
        if (check()) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no ${what}; stdout: ${out} stderr: ${err}`));
        }, 30_000);
        const w = (): void => {
          if (!check()) return;
          clearTimeout(timer);
          waiters.delete(w);
          resolve();
        };
        waiters.add(w);
      });
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    try {
      await waitLine((l) => l.event === 'caught_up', 'caught_up');
      await waitLine((l) => l.event === 'file', 'the saved file');
      const live = await alice.dm('bob', `listen-live-${tag}`);
      await waitLine((l) => l.event === 'message' && l.id === live.id, 'the live message');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, err);
    const lines = jsonLines(out);
    const messages = lines.filter((l) => l.event === 'message');
    assert.deepEqual(
      messages.map((m) => m.id),
      [...sent.ids, messages.at(-1)?.id],
    );
    assert.equal(messages.at(-1)?.text, `listen-live-${tag}`);
    assert.ok(!out.includes(`script-first-${tag}`), 'messages of the earlier run are not shown again');
    assert.deepEqual(
      lines.filter((l) => l.event === 'caught_up').map((c) => c.pending),
      [4],
    );
    assert.equal(lines.filter((l) => l.event === 'file').length, 1);
    assert.equal(await pendingForBob(), 0);
  });

  test(`the interactive REPL in a terminal shows what was pending once, in order (${backend})`, { skip: noTmux }, async () => {
    const sent = await sendWhileOffline('repl');
    const dl = join(work, 'dl-repl');
    const term = new TmuxTerminal();
    try {
      term.start([...conn('bob'), '--download-dir', dl], env);
      const screen = await term.waitFor((s) => sent.texts.every((t) => s.includes(t)) && s.includes('[file saved]'), 'the pending messages and the saved file');
      for (const t of sent.texts) assert.equal(count(screen, t), 1, `"${t}" shown once:\n${screen}`);
      const at = sent.texts.map((t) => screen.indexOf(t));
      assert.deepEqual([...at].sort((a, b) => a - b), at, `in order:\n${screen}`);
      assert.match(screen, new RegExp(`alice → #${GROUP}: ${sent.texts[1]}`));
      assert.ok(screen.indexOf(sent.fileName) < screen.indexOf(sent.texts[2]), 'the file message in its place');
      assert.ok(!screen.includes(`script-first-${tag}`) && !screen.includes(`listen-first-${tag}`), 'earlier runs not shown again');
      term.type('/quit');
      assert.equal(await term.exitCode(), 0, term.screen());
    } finally {
      term.close();
    }
    assert.equal(await pendingForBob(), 0, 'what the REPL showed was acknowledged');
  });
}

describe('offline delivery through the real CLI, SQLite', () => offlineSuite('sqlite'));
describe('offline delivery through the real CLI, MariaDB', { skip: skipMysql }, () => offlineSuite('mysql'));
