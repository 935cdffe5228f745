/**
 * MariaDB faults against the real server: the pool's connections are killed (`KILL <id>` from a
 * separate admin connection) mid-test. A call may succeed by reconnecting or fail with
 * storage_unavailable; the call after it succeeds by itself; a failed batch leaves no rows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Connection } from 'mysql2/promise';
import { SecureChatError } from '../../src/errors.js';
import { openStorage } from '../../src/storage/index.js';
import type { SqlStorage } from '../../src/storage/sql-storage.js';
import { adminConnection, createTestDatabase, mysqlSkip, type TestDatabase } from '../helpers/mysql.js';

const skip = await mysqlSkip();

describe('storage faults: MySQL', { skip }, () => {
  let db: TestDatabase;
  let admin: Connection;
  let s: SqlStorage;

  before(async () => {
    db = await createTestDatabase();
    admin = await adminConnection();
    s = await openStorage(db.url, { poolSize: 4, queryTimeoutMs: 5000 });
  });
  after(async () => {
    await s?.close();
    await admin?.end();
    await db?.dispose();
  });

  /** Kills every connection the storage's pool holds to our test database. */
  async function killPool(): Promise<number> {
    const [rows] = await admin.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()', [db.name]);
    const ids = (rows as Array<{ id: number }>).map((r) => r.id);
    for (const id of ids) await admin.query(`KILL ${Number(id)}`).catch(() => undefined);
    return ids.length;
  }

  async function succeedsOrUnavailable<T>(p: Promise<T>): Promise<T | null> {
    try {
      return await p;
    } catch (err) {
      assert.ok(err instanceof SecureChatError, String(err));
      assert.equal(err.code, 'storage_unavailable');
      return null;
    }
  }

  test('killed idle connections: reads recover by themselves', async () => {
    const u = await s.createUser({ username: 'kim', passwordHash: 'h' });
    // Warm several pool connections so there is something to kill.
    await Promise.all(Array.from({ length: 4 }, () => s.getUserById(u.id)));
    assert.ok((await killPool()) > 0, 'found pool connections to kill');
    await succeedsOrUnavailable(s.getUserById(u.id));
    assert.equal((await s.getUserById(u.id))?.username, 'kim');
    await s.ping();
  });

  test('killed connections: writes fail cleanly or succeed, then succeed', async () => {
    const u = await s.createUser({ username: 'lee', passwordHash: 'h' });
    const g = await s.createGroup('faulty', u.id);
    await Promise.all(Array.from({ length: 4 }, () => s.ping()));
    await killPool();
    const first = await succeedsOrUnavailable(s.appendMessage({ conversationId: g.id, senderId: u.id, kind: 'text', body: 'after-kill-1' }));
    const second = await s.appendMessage({ conversationId: g.id, senderId: u.id, kind: 'text', body: 'after-kill-2' });
    const bodies = (await s.history(g.id)).map((m) => m.body);
    assert.deepEqual(bodies, first ? ['after-kill-1', 'after-kill-2'] : ['after-kill-2']);
    assert.ok(second.id > 0);
  });

  test('a batch whose connection dies mid-transaction is rejected whole and leaves no rows', async () => {
    const u = await s.createUser({ username: 'max', passwordHash: 'h' });
    const g = await s.createGroup('batchy', u.id);
    // Hold a row lock from the admin side so the batch blocks inside its transaction, then kill it.
    await admin.query(`USE \`${db.name}\``);
    await admin.query('START TRANSACTION');
    await admin.query('SELECT id FROM conversations WHERE id = ? FOR UPDATE', [g.id]);
    await admin.query('UPDATE conversations SET created_at = created_at WHERE id = ?', [g.id]);
    const batch = Array.from({ length: 5 }, (_, i) => s.appendMessage({ conversationId: g.id, senderId: u.id, kind: 'text', body: `doomed-${i}` }));
    const settled = Promise.allSettled(batch);
    // Wait until the batch's transaction is blocked on our lock (it inserted nothing visible yet).
    let waiting: number | undefined;
    for (let i = 0; i < 100 && waiting === undefined; i++) {
      const [rows] = await admin.query(
        "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND INFO LIKE 'SELECT id, next_seq FROM conversations%FOR UPDATE'",
        [db.name],
      );
      waiting = (rows as Array<{ id: number }>)[0]?.id;
      if (waiting === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(waiting, 'the batch is waiting for the conversation lock');
    await admin.query(`KILL ${Number(waiting)}`);
    await admin.query('ROLLBACK');
    const results = await settled;
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as SecureChatError).code, 'storage_unavailable');
    }
    assert.deepEqual(await s.history(g.id), [], 'nothing half-written');
    const ok = await s.appendMessage({ conversationId: g.id, senderId: u.id, kind: 'text', body: 'recovered' });
    assert.deepEqual((await s.history(g.id)).map((m) => m.id), [ok.id]);
  });

  test('unreachable server: storage_unavailable at open', async () => {
    await assert.rejects(
      openStorage('mysql://root@127.0.0.1:1/nothing', { connectTimeoutMs: 1000 }),
      (err: unknown) => err instanceof SecureChatError && err.code === 'storage_unavailable',
    );
  });
});
