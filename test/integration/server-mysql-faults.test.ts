/**
 * The chat server on MariaDB while its database connections are killed (`KILL <id>`) mid-test:
 * a request either succeeds or gets storage_unavailable, never a false ack; the session stays up;
 * the next request succeeds without a restart; offline delivery survives a server restart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SecureChatError } from '../../src/errors.js';
import { startChatServer, nextPush, type TestChatServer } from '../helpers/chat-server.js';
import { adminConnection, mysqlSkip } from '../helpers/mysql.js';

const skip = await mysqlSkip();
let chat: TestChatServer;

before(async () => {
  if (!skip) chat = await startChatServer({ backend: 'mysql' });
});
after(async () => {
  if (!skip) await chat.close();
});

async function killConnectionsOf(dbName: string): Promise<number> {
  const admin = await adminConnection();
  try {
    const [rows] = await admin.query('SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()', [dbName]);
    const ids = (rows as { ID: number }[]).map((r) => r.ID);
    for (const id of ids) await admin.query(`KILL ${Number(id)}`).catch(() => undefined);
    return ids.length;
  } finally {
    await admin.end();
  }
}

test('killed DB connections: no false ack, session survives, recovers by itself', { skip }, async () => {
  const alice = await chat.login('alice');
  const bob = await chat.login('bob');
  const dbName = new URL(chat.dbUrl).pathname.slice(1);
  assert.ok((await killConnectionsOf(dbName)) > 0, 'expected pool connections to kill');

  const acked: string[] = [];
  for (const text of ['one', 'two', 'three']) {
    try {
      await alice.request('dm', { to: 'bob', text });
      acked.push(text);
    } catch (err) {
      assert.equal((err as SecureChatError).code, 'storage_unavailable');
    }
  }
  assert.equal(alice.closed, false);
  const got = nextPush<{ text: string }>(bob, 'message');
  await alice.request('dm', { to: 'bob', text: 'recovered' });
  acked.push('recovered');
  // Every acknowledged message is stored (and nothing else).
  const history = await alice.request<{ messages: { text: string }[] }>('history', { with: 'bob' });
  assert.deepEqual(history.messages.map((m) => m.text), acked);
  // bob may have seen the earlier ones live; 'recovered' is the last one he gets.
  let last = await got;
  while (last.text !== 'recovered') last = await nextPush<{ text: string }>(bob, 'message');
  alice.close();
  bob.close();
});

test('offline DM survives a server restart on MySQL and arrives exactly once', { skip }, async () => {
  (await chat.login('carol')).close();
  const alice = await chat.login('alice');
  await alice.request('dm', { to: 'carol', text: 'while you were away' });
  alice.close();
  await chat.stop();
  const restarted = await startChatServer({ backend: 'mysql', pki: chat.pki, dbUrl: chat.dbUrl });
  try {
    const receive = async (expected: number): Promise<string[]> => {
      const carol = await restarted.connect('carol');
      const seen: string[] = [];
      carol.onPush('message', (m) => {
        seen.push(String(m.text));
        carol.request('ack', { conversation_id: m.conversation_id, upto: m.id }).catch(() => undefined);
      });
      await carol.request('login', { password: 'correct horse battery' });
      for (let waited = 0; seen.length < expected && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      // A little longer, so that a duplicate would have time to show up.
      await new Promise((r) => setTimeout(r, 200));
      carol.close();
      return seen;
    };
    assert.deepEqual(await receive(1), ['while you were away']);
    assert.deepEqual(await receive(0), [], 'an acknowledged message is not sent again');
  } finally {
    await restarted.stop();
  }
});
