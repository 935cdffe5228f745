/**
 * The MySQL message writer has a connection of its own: a message batch stuck behind a lock does
 * not hold up reads, even with a main pool of one connection.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStorage } from '../../src/storage/index.js';
import { adminConnection, createTestDatabase, mysqlSkip } from '../helpers/mysql.js';

test('reads are served while a message batch waits for a lock', { skip: await mysqlSkip() }, async () => {
  const db = await createTestDatabase();
  const s = await openStorage(db.url, { poolSize: 1 });
  const admin = await adminConnection();
  try {
    const a = await s.createUser({ username: 'blocked_a', passwordHash: 'x' });
    const g = await s.createGroup('blocked', a.id);
    await s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'first' });

    // Holding the conversation row FOR UPDATE blocks the writer, which locks it to allocate the seq.
    await admin.query(`USE \`${db.name}\``);
    await admin.query('START TRANSACTION');
    await admin.query('SELECT id FROM conversations WHERE id = ? FOR UPDATE', [g.id]);

    const order: string[] = [];
    const append = s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'second' }).then((m) => {
      order.push('append');
      return m;
    });
    // Wait until the writer is actually waiting on the lock.
    for (;;) {
      const [rows] = await admin.query(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT id, next_seq FROM conversations%FOR UPDATE'",
        [db.name],
      );
      if (Number((rows as Array<{ n: number }>)[0].n) > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const user = await s.getUserById(a.id);
    const history = await s.history(g.id);
    order.push('reads');
    assert.equal(user?.username, 'blocked_a');
    assert.deepEqual(history.map((m) => m.body), ['first']);

    await admin.query('COMMIT');
    const second = await append;
    assert.deepEqual(order, ['reads', 'append']);
    assert.deepEqual((await s.history(g.id)).map((m) => m.id).slice(-1), [second.id]);
  } finally {
    await admin.query('ROLLBACK').catch(() => undefined);
    await admin.end();
    await s.close();
    await db.dispose();
  }
});
