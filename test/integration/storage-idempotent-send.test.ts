/**
 * Idempotent sends and database-allocated order through two real `securechat serve` processes on
 * one database (SQLite and MariaDB/MySQL): a dm, a group_send and a file_complete retried with the
 * same client_msg_id — on the same server, and after reconnecting to the other server process —
 * answer with the first ack (same id, seq, created_at, plus `duplicate: true`) and store one row.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChatClient, type ChatMessage } from '../../src/client/chat-client.js';
import { countRows } from '../helpers/chat-expect.js';
import { makeTestPki, startChatServer, TEST_PASSWORD, userIdentity, type TestPki } from '../helpers/chat-server.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { createTestDatabase, mysqlSkip, type TestDatabase } from '../helpers/mysql.js';

interface ServeProcess {
  port: number;
  stop(): Promise<void>;
}

/** Starts `securechat serve` on port 0 and resolves once it is listening. */
async function serve(pki: TestPki, dbUrl: string, work: string, name: string): Promise<ServeProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src/cli/index.ts'), 'serve', '--port', '0', '--certs', pki.dir, '--db', dbUrl, '--log-file', join(work, `${name}.log`)],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`serve ${name} exited with ${code}: ${output}`)));
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function runSuite(backend: 'sqlite' | 'mysql', skip: string | false): void {
  describe(`idempotent sends over two server processes: ${backend}`, { skip }, () => {
    let pki: TestPki;
    let work: string;
    let mysqlDb: TestDatabase | undefined;
    let dbUrl: string;
    let a: ServeProcess;
    let b: ServeProcess;
    const open: ChatClient[] = [];
    const registered = new Set<string>();

    before(async () => {
      pki = await makeTestPki(['alice', 'bob']);
      work = mkdtempSync(join(tmpdir(), 'sc-idem-'));
      if (backend === 'mysql') {
        mysqlDb = await createTestDatabase();
        dbUrl = mysqlDb.url;
      } else {
        dbUrl = `sqlite:${join(work, 'chat.db')}`;
      }
      a = await serve(pki, dbUrl, work, 'a');
      b = await serve(pki, dbUrl, work, 'b');
    });
    after(async () => {
      for (const c of open) c.close();
      await Promise.all([a?.stop(), b?.stop()]);
      await mysqlDb?.dispose();
      rmSync(work, { recursive: true, force: true });
      rmSync(pki.dir, { recursive: true, force: true });
    });

    async function client(user: string, server: ServeProcess): Promise<ChatClient> {
      const chat = await ChatClient.connect({ host: '127.0.0.1', port: server.port, serverName: 'localhost', identity: userIdentity(pki, user), trust: pki.trust });
      open.push(chat);
      if (registered.has(user)) await chat.login(TEST_PASSWORD);
      else {
        await chat.register(TEST_PASSWORD);
        registered.add(user);
      }
      return chat;
    }

    test('a dm retried with the same client_msg_id (same server, then the other one) returns the first ack and stores one row', async () => {
      const alice = await client('alice', a);
      const bob = await client('bob', b);
      const bobGot: ChatMessage[] = [];
      bob.consume((ev) => {
        if (ev.type === 'message') bobGot.push(ev.message);
      });
      const first = await alice.dm('bob', 'exactly once', 'retry-dm-1');
      assert.equal(first.seq, 1);
      assert.equal(first.duplicate, undefined);
      assert.deepEqual(await alice.dm('bob', 'exactly once', 'retry-dm-1'), { ...first, duplicate: true });
      // The connection "died during COMMIT": alice reconnects, to the other server process, and retries.
      alice.close();
      const again = await client('alice', b);
      assert.deepEqual(await again.dm('bob', 'exactly once', 'retry-dm-1'), { ...first, duplicate: true });
      assert.equal(await countRows(dbUrl, 'messages'), 1);
      const next = await again.dm('bob', 'second', 'retry-dm-2');
      assert.deepEqual([next.seq, next.id > first.id], [2, true], 'the other process continues the same sequence');
      // bob (on server b) sees each message once, with its seq, in history as well.
      const history = await bob.history({ with: 'alice' });
      assert.deepEqual(history.map((m) => [m.id, m.seq, m.text]), [[first.id, 1, 'exactly once'], [next.id, 2, 'second']]);
      // A key reused for a different text is refused rather than silently answered.
      await assert.rejects(again.dm('bob', 'not the same', 'retry-dm-1'), (err: unknown) => (err as { reason?: string }).reason === 'client_msg_id_reused');
    });

    test('group_send and file_complete retries are answered with the first ack, nothing stored twice', async () => {
      const alice = await client('alice', a);
      await alice.groupCreate('idem');
      const sent = await alice.groupSend('idem', 'to the group', 'retry-group-1');
      const onOther = await client('alice', b);
      assert.deepEqual(await onOther.groupSend('idem', 'to the group', 'retry-group-1'), { ...sent, duplicate: true });
      assert.equal(sent.seq, 1);

      const path = join(work, 'note.txt');
      writeFileSync(path, 'file body '.repeat(100));
      const filesBefore = await countRows(dbUrl, 'files');
      const file = await alice.sendFile({ group: 'idem', path, clientMsgId: 'retry-file-1' });
      assert.equal(file.seq, 2);
      // Re-uploaded through the other process (the first transfer is gone with its session).
      const retried = await onOther.sendFile({ group: 'idem', path, clientMsgId: 'retry-file-1' });
      assert.deepEqual(retried, { ...file, duplicate: true });
      assert.equal(await countRows(dbUrl, 'files'), filesBefore + 1, 'the retried upload was not stored again');
      const history = await onOther.history({ group: 'idem' });
      assert.deepEqual(history.map((m) => [m.id, m.seq, m.kind]), [[sent.id, 1, 'text'], [file.id, 2, 'file']]);
    });
  });
}

test('ack by message id or by seq: the cursor is a seq, the answer names the message id', async () => {
  const srv = await startChatServer();
  try {
    const alice = await srv.login('alice');
    const bob = await srv.login('bob');
    const sent = [];
    for (const text of ['a', 'b', 'c']) sent.push(await alice.request<{ id: number; seq: number; conversation_id: number }>('dm', { to: 'bob', text }));
    assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3]);
    const conv = sent[0].conversation_id;
    assert.deepEqual(await bob.request('ack', { conversation_id: conv, upto_seq: 2 }), { upto: sent[1].id });
    const bobId = (await srv.storage.getUserByName('bob'))!.id;
    assert.equal((await srv.storage.getMember(conv, bobId))?.deliveredSeq, 2);
    assert.deepEqual(await bob.request('ack', { conversation_id: conv, upto: sent[2].id }), { upto: sent[2].id });
    assert.equal((await srv.storage.getMember(conv, bobId))?.deliveredSeq, 3);
    await assert.rejects(bob.request('ack', { conversation_id: conv, upto: 1, upto_seq: 1 }), (err: unknown) => (err as { code?: string }).code === 'bad_request');
  } finally {
    await srv.close();
  }
});

runSuite('sqlite', false);
runSuite('mysql', await mysqlSkip());
