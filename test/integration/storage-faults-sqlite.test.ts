/**
 * SQLite write failures, produced by SQLite itself (the tests run as root, and root ignores file
 * modes, so chmod 0444 would not stop a single write):
 *  - the live connection turns read-only (`PRAGMA query_only = ON`): SQLite refuses every write
 *    with SQLITE_READONLY, exactly as for a read-only file;
 *  - the database is opened read-only (`sqlite:PATH?mode=ro`, O_RDONLY): what a server gets after a
 *    restart on a file it may no longer write;
 *  - the disk fills up (a 1 MiB tmpfs, when this machine lets us mount one): SQLITE_FULL mid-write.
 * In every case writes fail with storage_unavailable, nothing is acknowledged, nothing half-written
 * appears afterwards, and the storage recovers once the cause is gone.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SecureChatError } from '../../src/errors.js';
import { openStorage } from '../../src/storage/index.js';
import type { SqliteDriver } from '../../src/storage/sqlite/driver.js';
import type { SqlStorage } from '../../src/storage/sql-storage.js';
import { tempSqlite } from '../helpers/sqlite.js';

const unavailable = (err: unknown) => err instanceof SecureChatError && err.code === 'storage_unavailable';

let tmp: ReturnType<typeof tempSqlite>;
let s: SqlStorage;
let userId: number;
let groupId: number;

before(async () => {
  tmp = tempSqlite();
  s = await openStorage(tmp.url);
  userId = (await s.createUser({ username: 'ro', passwordHash: 'h' })).id;
  groupId = (await s.createGroup('ro-group', userId)).id;
  await s.appendMessage({ conversationId: groupId, senderId: userId, kind: 'text', body: 'before' });
});
after(async () => {
  await s.close();
  await tmp.dispose();
});

test('connection turns read-only: writes rejected whole, reads still served, recovers', async () => {
  const driver = s.db as SqliteDriver;
  driver.pragma('query_only = ON');
  const batch = await Promise.allSettled(
    [1, 2, 3].map((i) => s.appendMessage({ conversationId: groupId, senderId: userId, kind: 'text', body: `lost-${i}` })),
  );
  for (const r of batch) assert.ok(r.status === 'rejected' && unavailable(r.reason), 'every message of the batch rejected');
  await assert.rejects(s.createUser({ username: 'nope', passwordHash: 'h' }), unavailable);
  await assert.rejects(s.markDelivered(userId, groupId, 1), unavailable);
  assert.deepEqual((await s.history(groupId)).map((m) => m.body), ['before'], 'reads work, nothing was written');
  driver.pragma('query_only = OFF');
  const ok = await s.appendMessage({ conversationId: groupId, senderId: userId, kind: 'text', body: 'after' });
  assert.deepEqual((await s.history(groupId)).map((m) => [m.id, m.body]).at(-1), [ok.id, 'after']);
});

test('database opened read-only: writes fail with storage_unavailable', async () => {
  const ro = await openStorage(`${tmp.url}?mode=ro`);
  try {
    assert.equal((await ro.getUserByName('ro'))?.id, userId);
    await assert.rejects(ro.appendMessage({ conversationId: groupId, senderId: userId, kind: 'text', body: 'ro-write' }), unavailable);
    await assert.rejects(ro.audit({ username: 'ro', event: 'login_ok' }), unavailable);
  } finally {
    await ro.close();
  }
  assert.equal((await s.history(groupId)).some((m) => m.body === 'ro-write'), false);
});

function tryMountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('disk full (tmpfs): SQLITE_FULL is storage_unavailable; freeing space recovers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-full-'));
  if (!tryMountTmpfs(dir, '1m')) {
    console.warn('!!!!! skipping disk-full test: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)');
    rmSync(dir, { recursive: true, force: true });
    t.skip('cannot mount tmpfs');
    return;
  }
  let st: SqlStorage | undefined;
  try {
    st = await openStorage(`sqlite:${join(dir, 'full.db')}`);
    const u = await st.createUser({ username: 'full', passwordHash: 'h' });
    const g = await st.createGroup('full-group', u.id);
    // Eat the remaining space with a file we can delete later.
    const filler = join(dir, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(1024 * 1024));
    } catch {
      // ENOSPC: the filler took what it could, which is the point.
    }
    const batch = await Promise.allSettled(
      [1, 2].map((i) => st!.appendMessage({ conversationId: g.id, senderId: u.id, kind: 'text', body: `big-${i}-` + 'x'.repeat(200_000) })),
    );
    for (const r of batch) assert.ok(r.status === 'rejected' && unavailable(r.reason), `rejected: ${r.status === 'rejected' ? String(r.reason) : 'fulfilled'}`);
    rmSync(filler);
    const ok = await st.appendMessage({ conversationId: g.id, senderId: u.id, kind: 'text', body: 'fits' });
    assert.deepEqual((await st.history(g.id)).map((m) => [m.id, m.body]), [[ok.id, 'fits']]);
  } finally {
    await st?.close();
    execFileSync('umount', [dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
});
