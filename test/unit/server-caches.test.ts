import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GroupMembers } from '../../src/server/group-members.js';
import { RecentFiles } from '../../src/server/recent-files.js';
import { openStorage } from '../../src/storage/index.js';
import type { StoredFile } from '../../src/storage/types.js';

test('GroupMembers: serves the stored list, sees changes after invalidate, never caches a read that raced with one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sc-members-'));
  const storage = await openStorage(`sqlite:${join(dir, 'db.sqlite')}`);
  try {
    const [a, b, c] = await Promise.all(['ann', 'bob', 'cid'].map((username) => storage.createUser({ username, passwordHash: 'x' })));
    const group = await storage.createGroup('team', a.id);
    await storage.addMember(group.id, b.id);
    const members = new GroupMembers(storage);
    const names = async () => (await members.of(group.id)).map((m) => m.username);

    assert.deepEqual(await names(), ['ann', 'bob']);
    await storage.addMember(group.id, c.id);
    assert.deepEqual(await names(), ['ann', 'bob'], 'cached until invalidated');
    members.invalidate(group.id);
    assert.deepEqual(await names(), ['ann', 'bob', 'cid']);

    // A read in flight when a change is invalidated must not fill the cache.
    members.invalidate(group.id);
    const racing = members.of(group.id);
    members.invalidate(group.id);
    assert.deepEqual((await racing).map((m) => m.username), ['ann', 'bob', 'cid'], 'its caller still gets the list');
    await storage.removeMember(group.id, b.id);
    assert.deepEqual(await names(), ['ann', 'cid'], 'read again from storage: the raced read was not cached');
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

const file = (id: number, size: number): StoredFile => ({
  id, uuid: `u${id}`, name: `f${id}`, size, sha256: '0'.repeat(64), senderId: 1, createdAt: 0, content: randomBytes(size),
});

/** The cached file's name, taking and releasing a pin (what a download does). */
function peek(recent: RecentFiles, id: number): StoredFile | undefined {
  const pinned = recent.take(id);
  pinned?.release();
  return pinned?.file;
}

test('RecentFiles: keeps the newest files within its byte budget', () => {
  const recent = new RecentFiles(100);
  recent.add(file(1, 40));
  recent.add(file(2, 40));
  recent.add(file(3, 40));
  assert.equal(peek(recent, 1), undefined, 'the oldest went to make room');
  assert.equal(peek(recent, 2)?.name, 'f2');
  assert.equal(peek(recent, 3)?.content.length, 40);
  assert.equal(recent.bytes, 80);
  recent.add(file(4, 101));
  assert.equal(peek(recent, 4), undefined, 'larger than the whole budget: not kept');
  assert.equal(new RecentFiles(0).bytes, 0);
  const off = new RecentFiles(0);
  off.add(file(5, 1));
  assert.equal(peek(off, 5), undefined, '0 turns the cache off');
});

test('RecentFiles: a file being downloaded is pinned: never evicted, so the cache never holds more than its budget', () => {
  const recent = new RecentFiles(100);
  recent.add(file(1, 40));
  recent.add(file(2, 40));
  const download = recent.take(1);
  assert.ok(download);
  // 1 is the oldest but pinned: 2 goes instead.
  recent.add(file(3, 40));
  assert.equal(peek(recent, 1)?.name, 'f1');
  assert.equal(peek(recent, 2), undefined);
  assert.equal(recent.bytes, 80);
  const second = recent.take(3);
  // Everything pinned: a new file is not cached rather than pushing the cache past its budget.
  recent.add(file(4, 40));
  assert.equal(peek(recent, 4), undefined);
  assert.ok(recent.bytes <= 100);
  download.release();
  download.release(); // idempotent
  second?.release();
  recent.add(file(5, 40));
  assert.equal(peek(recent, 5)?.name, 'f5');
  assert.equal(peek(recent, 1), undefined, 'unpinned again, the oldest goes first');
  assert.equal(recent.bytes, 80);
});
