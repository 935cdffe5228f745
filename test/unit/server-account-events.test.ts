/**
 * AccountWatcher (issue 9 §3) over a real SQLite storage and a stub hub: an account event ends
 * exactly the user's sessions that logged in under an older credential version, except the one
 * that made the change; events before the watcher started are not replayed; old events are pruned.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SecureChatError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { AccountWatcher } from '../../src/server/account-events.js';
import type { Hub } from '../../src/server/hub.js';
import type { Session } from '../../src/server/session.js';
import { openStorage } from '../../src/storage/index.js';
import { tempSqlite } from '../helpers/sqlite.js';

interface StubSession {
  id: string;
  username: string;
  credentialVersion: number;
  ended?: string;
  fail(err: SecureChatError): void;
}

function stub(id: string, credentialVersion: number): StubSession {
  return {
    id,
    username: 'alice',
    credentialVersion,
    fail(err) {
      this.ended = err.code;
    },
  };
}

test('account events end the older sessions of that user only, skip the origin, and are pruned', async () => {
  const db = tempSqlite();
  const storage = await openStorage(db.url);
  try {
    const alice = await storage.createUser({ username: 'alice', passwordHash: 'x' });
    const bob = await storage.createUser({ username: 'bob', passwordHash: 'x' });
    // Before the watcher exists: must not be replayed against sessions that log in later.
    await storage.changeCredentials(alice.id, { kind: 'credentials_changed', passwordHash: 'y' });
    const sessions = new Map<number, StubSession[]>([[alice.id, []], [bob.id, []]]);
    const hub = { sessionsOf: (userId: number) => (sessions.get(userId) ?? []) as unknown as Session[] } as unknown as Hub;
    const watcher = new AccountWatcher(storage, hub, silentLogger(), { pollMs: 60_000, retainMs: 0, pruneEveryMs: 0 });
    try {
      await watcher.pollNow();
      const old = stub('old', 1);
      const origin = stub('origin', 1);
      const bobs = stub('bob', 0);
      sessions.get(alice.id)?.push(old, origin);
      sessions.get(bob.id)?.push(bobs);
      await watcher.pollNow();
      assert.equal(old.ended, undefined, 'the event from before the watcher started is not replayed');

      const v = await storage.changeCredentials(alice.id, { kind: 'credentials_changed', passwordHash: 'z', originSession: 'origin' });
      assert.equal(v, 2);
      await watcher.pollNow();
      assert.equal(old.ended, 'credentials_changed');
      assert.equal(origin.ended, undefined, 'the session that changed the password stays');
      assert.equal(bobs.ended, undefined, 'other users are untouched');

      // A session that logged in under the newest version survives a replay of older events.
      const fresh = stub('fresh', 3);
      sessions.get(alice.id)?.push(fresh);
      await storage.changeCredentials(alice.id, { kind: 'disabled', disabled: true });
      await watcher.pollNow();
      assert.equal(fresh.ended, undefined, 'version 3 is not older than the event');
      assert.equal(origin.ended, 'account_disabled');
      assert.equal((await storage.getUserById(alice.id))?.disabled, true);
      assert.equal(await storage.credentialVersion(alice.id), 3);
      // retainMs 0 + pruneEveryMs 0: every poll prunes what it has read (the newest row stays).
      await watcher.pollNow();
      assert.deepEqual((await storage.accountEventsAfter(0)).map((e) => e.version), [3], 'all but the newest pruned');
    } finally {
      watcher.stop();
    }
  } finally {
    await storage.close();
    await db.dispose();
  }
});
