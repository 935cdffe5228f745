/**
 * The abstract storage contract: every backend must pass it unchanged. A backend provides a
 * factory of fresh, empty databases (by URL); the suite opens them through `openStorage`, so the
 * real open path (driver, pragmas/pool, migrations) is what gets tested. Reopening the same URL is
 * how a server restart is simulated.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { SecureChatError } from '../../src/errors.js';
import { openDriverForAdmin, openStorage } from '../../src/storage/index.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate, migrationStatus } from '../../src/storage/migrations/index.js';
import type { SqlStorage } from '../../src/storage/sql-storage.js';
import type { MessageView, NewMessage, Storage, User } from '../../src/storage/types.js';
import type { WorkerAck, WorkerJob } from './append-worker.js';

export interface BackendFixture {
  url: string;
  dispose(): Promise<void>;
}

export type MakeStorage = () => Promise<BackendFixture>;

function rejectsWith(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof SecureChatError, `expected SecureChatError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const WORKER = fileURLToPath(new URL('./append-worker.ts', import.meta.url));

/**
 * Runs each job in its own process (append-worker.ts: a second "server process" on the same
 * database), released together once all have opened the database; resolves with each one's acks.
 */
async function runWorkers(url: string, jobs: WorkerJob[]): Promise<WorkerAck[][]> {
  const children = jobs.map((job) => spawn(process.execPath, ['--import', 'tsx', WORKER, url, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const outputs = children.map(
    (child) =>
      new Promise<{ ready: Promise<void>; acks: Promise<WorkerAck[]> }>((resolveOuter) => {
        const lines = createInterface({ input: child.stdout });
        let markReady!: () => void;
        const ready = new Promise<void>((r) => (markReady = r));
        const acks = new Promise<WorkerAck[]>((resolve, reject) => {
          lines.on('line', (line) => {
            if (line === 'ready') markReady();
            else if (line.startsWith('[')) resolve(JSON.parse(line) as WorkerAck[]);
          });
          child.on('exit', (code) => reject(new Error(`append worker exited with ${code} before reporting`)));
        });
        resolveOuter({ ready, acks });
      }),
  );
  const started = await Promise.all(outputs);
  await Promise.race([Promise.all(started.map((o) => o.ready)), ...started.map((o) => o.acks)]);
  for (const child of children) child.stdin.end('go\n');
  return Promise.all(started.map((o) => o.acks));
}

/** Every message of each conversation, oldest first, checked gap-free (seq 1..n) with ids increasing. */
async function assertGapFree(st: Storage, conversationId: number): Promise<MessageView[]> {
  const all = await st.history(conversationId, { limit: 1000 });
  assert.deepEqual(all.map((m) => m.seq), all.map((_, i) => i + 1), `conversation ${conversationId}: seq is 1..n in id order`);
  for (let i = 1; i < all.length; i++) assert.ok(all[i].id > all[i - 1].id, 'ids increase with seq');
  return all;
}

export function runStorageContract(name: string, makeStorage: MakeStorage, options: { skip?: string | false } = {}): void {
  describe(`storage contract: ${name}`, { skip: options.skip || false }, () => {
    let fixture: BackendFixture;
    let s: SqlStorage;
    let seq = 0;
    const uniq = (p: string) => `${p}${++seq}_${randomBytes(2).toString('hex')}`;
    const mkUser = (p = 'user'): Promise<User> => s.createUser({ username: uniq(p), passwordHash: 'scrypt$x' });

    before(async () => {
      fixture = await makeStorage();
      s = await openStorage(fixture.url);
    });
    after(async () => {
      await s?.close();
      await fixture?.dispose();
    });

    async function reopen(): Promise<void> {
      await s.close();
      s = await openStorage(fixture.url);
    }

    describe('users', () => {
      test('create, get by id/uuid/name, list, update', async () => {
        const u = await s.createUser({ username: uniq('Alice'), passwordHash: 'scrypt$1$2' });
        assert.match(u.uuid, /^[0-9a-f-]{36}$/);
        assert.equal(u.disabled, false);
        assert.deepEqual(await s.getUserById(u.id), u);
        assert.deepEqual(await s.getUserByUuid(u.uuid), u);
        assert.deepEqual(await s.getUserByName(u.username.toUpperCase()), u, 'lookup by name is case-insensitive');
        assert.equal(await s.getUserByName('nobody_' + u.username), null);
        await s.setPasswordHash(u.id, 'scrypt$new');
        await s.setDisabled(u.id, true);
        const again = await s.getUserById(u.id);
        assert.equal(again?.passwordHash, 'scrypt$new');
        assert.equal(again?.disabled, true);
        assert.ok((await s.listUsers()).some((x) => x.id === u.id));
        await assert.rejects(s.setDisabled(987654321, true), rejectsWith('not_found'));
      });

      test('usernames are unique case-insensitively; the registered case is kept', async () => {
        const name = uniq('Bob');
        await s.createUser({ username: name, passwordHash: 'h' });
        await assert.rejects(s.createUser({ username: name.toLowerCase(), passwordHash: 'h' }), rejectsWith('exists'));
        assert.equal((await s.getUserByName(name.toLowerCase()))?.username, name);
      });

      test('unicode survives (utf8mb4)', async () => {
        const u = await s.createUser({ username: uniq('zoë'), passwordHash: 'h' });
        assert.equal((await s.getUserById(u.id))?.username, u.username);
      });

      test('certificate fingerprints: several per user, first/last seen', async () => {
        const u = await mkUser();
        const fp1 = 'a'.repeat(64);
        const fp2 = 'B'.repeat(64);
        await s.recordCertificate(u.id, fp1, 1000);
        await s.recordCertificate(u.id, fp1, 5000);
        await s.recordCertificate(u.id, fp1, 3000); // older sighting never moves last_seen back
        await s.recordCertificate(u.id, fp2, 2000);
        assert.deepEqual(await s.listCertificates(u.id), [
          { fingerprint: fp1, firstSeen: 1000, lastSeen: 5000 },
          { fingerprint: fp2.toLowerCase(), firstSeen: 2000, lastSeen: 2000 },
        ]);
      });
    });

    describe('conversations', () => {
      test('DM get-or-create is idempotent, symmetric and safe under concurrency', async () => {
        const a = await mkUser();
        const b = await mkUser();
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? s.getOrCreateDm(a.id, b.id) : s.getOrCreateDm(b.id, a.id))));
        const ids = new Set(results.map((c) => c.id));
        assert.equal(ids.size, 1);
        assert.equal(results[0].kind, 'dm');
        assert.equal(results[0].name, null);
        assert.deepEqual((await s.getMembers(results[0].id)).map((m) => m.userId).sort(), [a.id, b.id].sort());
        await assert.rejects(s.getOrCreateDm(a.id, a.id), rejectsWith('bad_request'));
      });

      test('groups: create, list, members, roles, rename, uniqueness', async () => {
        const owner = await mkUser('own');
        const m1 = await mkUser('m');
        const gname = uniq('Team');
        const g = await s.createGroup(gname, owner.id);
        await assert.rejects(s.createGroup(gname.toUpperCase(), m1.id), rejectsWith('exists'));
        assert.equal((await s.getGroupByName(gname.toLowerCase()))?.id, g.id);
        await s.addMember(g.id, m1.id);
        await assert.rejects(s.addMember(g.id, m1.id), rejectsWith('exists'));
        await assert.rejects(s.addMember(g.id, 987654321), rejectsWith('not_found'));
        await assert.rejects(s.addMember(987654321, m1.id), rejectsWith('not_found'));
        const members = await s.getMembers(g.id);
        assert.deepEqual(members.map((m) => [m.userId, m.role]), [[owner.id, 'owner'], [m1.id, 'member']]);
        const mine = await s.listGroupsOf(m1.id);
        assert.deepEqual(mine.map((x) => [x.id, x.name, x.role, x.memberCount]), [[g.id, gname, 'member', 2]]);
        await s.setRole(g.id, m1.id, 'admin');
        assert.equal((await s.getMember(g.id, m1.id))?.role, 'admin');
        await assert.rejects(s.setRole(g.id, owner.id, 'member'), rejectsWith('forbidden'));
        const newName = uniq('Renamed');
        await s.renameGroup(g.id, newName);
        assert.equal((await s.getConversation(g.id))?.name, newName);
        assert.equal(await s.getGroupByName(gname), null, 'old name is free again');
        const other = await s.createGroup(uniq('Other'), owner.id);
        await assert.rejects(s.renameGroup(other.id, newName), rejectsWith('exists'));
      });

      test('setRole owner transfers ownership atomically: exactly one owner', async () => {
        const o = await mkUser('o');
        const m = await mkUser('m');
        const g = await s.createGroup(uniq('G'), o.id);
        await s.addMember(g.id, m.id);
        await s.setRole(g.id, m.id, 'owner');
        const roles = Object.fromEntries((await s.getMembers(g.id)).map((x) => [x.userId, x.role]));
        assert.deepEqual(roles, { [o.id]: 'admin', [m.id]: 'owner' });
      });

      test('owner leaving passes ownership to the oldest admin, else the oldest member; last one out deletes', async () => {
        const [o, m1, a1, m2] = [await mkUser('o'), await mkUser('m'), await mkUser('a'), await mkUser('m')];
        const g = await s.createGroup(uniq('Leave'), o.id, 1);
        await s.addMember(g.id, m1.id);
        await s.addMember(g.id, a1.id, 'admin');
        await s.addMember(g.id, m2.id);
        assert.deepEqual(await s.removeMember(g.id, o.id), { deleted: false, newOwnerId: a1.id });
        assert.deepEqual(await s.removeMember(g.id, m2.id), { deleted: false });
        assert.deepEqual(await s.removeMember(g.id, a1.id), { deleted: false, newOwnerId: m1.id });
        await assert.rejects(s.removeMember(g.id, a1.id), rejectsWith('not_found'));
        assert.deepEqual(await s.removeMember(g.id, m1.id), { deleted: true });
        assert.equal(await s.getConversation(g.id), null);
        assert.deepEqual(await s.listGroupsOf(m1.id), []);
      });

      test('deleteGroup removes members, messages and their files', async () => {
        const o = await mkUser('o');
        const g = await s.createGroup(uniq('Del'), o.id);
        const content = Buffer.from('bye');
        const f = await s.storeFile({ name: 'x.txt', size: 3, sha256: sha(content), content, senderId: o.id });
        const msg = await s.appendMessage({ conversationId: g.id, senderId: o.id, kind: 'file', body: '', fileId: f.id });
        await s.deleteGroup(g.id);
        assert.equal(await s.getConversation(g.id), null);
        assert.equal(await s.getMessage(msg.id), null);
        assert.equal(await s.getFile(f.id), null);
        assert.deepEqual(await s.getMembers(g.id), []);
        await assert.rejects(s.deleteGroup(g.id), rejectsWith('not_found'));
      });
    });

    describe('messages', () => {
      test('append, getMessage and history paged backwards by id', async () => {
        const a = await mkUser();
        const b = await mkUser();
        const dm = await s.getOrCreateDm(a.id, b.id);
        const sent = [];
        for (let i = 0; i < 7; i++) sent.push(await s.appendMessage({ conversationId: dm.id, senderId: i % 2 ? b.id : a.id, kind: 'text', body: `m${i} 🚀` }));
        for (let i = 1; i < sent.length; i++) assert.ok(sent[i].id > sent[i - 1].id);
        assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7], 'seq: 1-based, gap-free, per conversation');
        const view = await s.getMessage(sent[0].id);
        assert.equal(view?.seq, 1);
        assert.equal(view?.body, 'm0 🚀');
        assert.equal(view?.senderName, a.username);
        assert.equal(view?.senderUuid, a.uuid);
        assert.equal(view?.conversationKind, 'dm');
        const page1 = await s.history(dm.id, { limit: 3 });
        assert.deepEqual(page1.map((m) => m.body), ['m4 🚀', 'm5 🚀', 'm6 🚀']);
        const page2 = await s.history(dm.id, { limit: 3, beforeId: page1[0].id });
        assert.deepEqual(page2.map((m) => m.body), ['m1 🚀', 'm2 🚀', 'm3 🚀']);
        const page3 = await s.history(dm.id, { limit: 3, beforeId: page2[0].id });
        assert.deepEqual(page3.map((m) => m.body), ['m0 🚀']);
        assert.deepEqual(await s.history(dm.id, { limit: 3, beforeId: page3[0].id }), []);
        await assert.rejects(s.appendMessage({ conversationId: 987654321, senderId: a.id, kind: 'text', body: 'x' }), rejectsWith('not_found'));
      });

      test('group commit: 100 concurrent appends get distinct increasing ids and survive a restart', async () => {
        const a = await mkUser();
        const g = await s.createGroup(uniq('Burst'), a.id);
        const stored = await Promise.all(Array.from({ length: 100 }, (_, i) => s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: `b${i}` })));
        const ids = stored.map((m) => m.id);
        assert.equal(new Set(ids).size, 100);
        for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], 'ids follow call order');
        await reopen();
        const hist = await s.history(g.id, { limit: 1000 });
        assert.deepEqual(hist.map((m) => m.id), ids);
        assert.deepEqual(hist.map((m) => m.body), stored.map((m) => m.body));
      });

      test('one bad message in a batch fails alone', async () => {
        const a = await mkUser();
        const g = await s.createGroup(uniq('Mixed'), a.id);
        const results = await Promise.allSettled([
          s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'ok1' }),
          s.appendMessage({ conversationId: 987654321, senderId: a.id, kind: 'text', body: 'bad' }),
          s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'ok2' }),
        ]);
        assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
        assert.deepEqual((await s.history(g.id)).map((m) => m.body), ['ok1', 'ok2']);
      });

      test('concurrent appends across many conversations: ids follow call order, each conversation in order', async () => {
        const a = await mkUser();
        const groups = await Promise.all(Array.from({ length: 12 }, () => s.createGroup(uniq('Many'), a.id)));
        // 12 × 50 = 600 appends: several batches of varying size (more than one INSERT each).
        const calls = Array.from({ length: 600 }, (_, i) => ({ g: groups[i % groups.length], body: `c${i}` }));
        const stored = await Promise.all(calls.map((c) => s.appendMessage({ conversationId: c.g.id, senderId: a.id, kind: 'text', body: c.body })));
        for (let i = 1; i < stored.length; i++) assert.ok(stored[i].id > stored[i - 1].id, 'ids follow call order');
        for (const g of groups) {
          const expected = stored.filter((m) => m.conversationId === g.id);
          const hist = await s.history(g.id, { limit: 1000 });
          assert.deepEqual(hist.map((m) => [m.id, m.body]), expected.map((m) => [m.id, m.body]));
        }
      });

      test('large bodies in one batch are split across statements and stored whole', async () => {
        const a = await mkUser();
        const g = await s.createGroup(uniq('Big'), a.id);
        const bodies = Array.from({ length: 48 }, (_, i) => `${i}:` + 'é'.repeat(50_000));
        const stored = await Promise.all(bodies.map((body) => s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body })));
        for (let i = 1; i < stored.length; i++) assert.ok(stored[i].id > stored[i - 1].id);
        const hist = await s.history(g.id, { limit: 100 });
        assert.deepEqual(hist.map((m) => m.body), bodies);
      });

      test('ids keep increasing across a failed batch, a restart, and deletion of the newest messages', async () => {
        const a = await mkUser();
        const g = await s.createGroup(uniq('Ids'), a.id);
        const before = await s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'before' });
        await assert.rejects(s.appendMessage({ conversationId: 987654321, senderId: a.id, kind: 'text', body: 'bad' }), rejectsWith('not_found'));
        const doomed = await s.createGroup(uniq('Doomed'), a.id);
        const last = await s.appendMessage({ conversationId: doomed.id, senderId: a.id, kind: 'text', body: 'newest' });
        assert.ok(last.id > before.id);
        await s.deleteGroup(doomed.id);
        await reopen();
        // Clients drop ids they have seen, so the id of a deleted message must never come back.
        const afterRestart = await s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'after' });
        assert.ok(afterRestart.id > last.id, `${afterRestart.id} > ${last.id}`);
        assert.deepEqual((await s.history(g.id)).map((m) => m.body), ['before', 'after']);
      });

      test('ids and seqs are not reused after deleting the newest messages and reopening', async () => {
        const a = await mkUser();
        const g = await s.createGroup(uniq('Reuse'), a.id);
        const sent = [];
        for (const body of ['one', 'two', 'three']) {
          // MySQL 8+ caches information_schema table stats (AUTO_INCREMENT) for a day once anything
          // reads them outside a transaction (SHOW TABLE STATUS, a monitoring tool): the old writer
          // then seeded its ids from that stale cache and reused ids. Warm the cache the same way.
          if (body === 'two' && s.backend === 'mysql') {
            await s.db.all("SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'messages'");
          }
          sent.push(await s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body }));
        }
        // An operator (or a retention job) deletes the newest messages; then the server restarts.
        await s.db.run('DELETE FROM messages WHERE id >= ?', [sent[1].id]);
        await reopen();
        const next = await s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'four' });
        assert.ok(next.id > sent[2].id, `id ${next.id} must be above the deleted ${sent[2].id}: clients drop ids they have seen`);
        assert.equal(next.seq, 4, 'a deleted seq is not handed out again either');
        assert.deepEqual((await s.history(g.id)).map((m) => [m.body, m.seq]), [['one', 1], ['four', 4]]);
      });

      test('two server processes writing the same conversations at once keep each one gap-free and strictly increasing', async () => {
        const [a, b] = [await mkUser('a'), await mkUser('b')];
        const convs = [(await s.getOrCreateDm(a.id, b.id)).id];
        for (let i = 0; i < 3; i++) {
          const g = await s.createGroup(uniq('Shared'), a.id);
          await s.addMember(g.id, b.id);
          convs.push(g.id);
        }
        const job = (w: number): WorkerJob => ({
          concurrency: 64,
          sends: Array.from({ length: 400 }, (_, i): NewMessage => ({
            conversationId: convs[i % convs.length], senderId: i % 2 ? a.id : b.id, kind: 'text', body: `w${w}-${i}`,
          })),
        });
        const acks = (await runWorkers(fixture.url, [job(0), job(1)])).flat();
        assert.deepEqual(acks.filter((x) => x.error), [], 'no append failed');
        const stored = new Map<string, MessageView>();
        for (const conv of convs) for (const m of await assertGapFree(s, conv)) stored.set(m.body, m);
        assert.equal(stored.size, 800, 'every acknowledged message stored exactly once');
        for (const ack of acks) {
          const m = stored.get(ack.body);
          assert.deepEqual([m?.id, m?.seq], [ack.id, ack.seq], `ack of ${ack.body} names the stored row`);
        }
        // And the next append, from this process, continues each sequence.
        const more = await s.appendMessage({ conversationId: convs[1], senderId: a.id, kind: 'text', body: 'after' });
        assert.equal(more.seq, 201);
      });

      test('a retried send (same client_msg_id) is stored once and answered with the first ack', async () => {
        const [a, b] = [await mkUser('a'), await mkUser('b')];
        const dm = await s.getOrCreateDm(a.id, b.id);
        const send = (body: string, clientMsgId: string, senderId = a.id) => s.appendMessage({ conversationId: dm.id, senderId, kind: 'text', body, clientMsgId });
        const first = await send('hello', 'key-1');
        assert.equal(first.duplicate, undefined);
        const retry = await send('hello', 'key-1');
        assert.deepEqual(retry, { ...first, duplicate: true });
        // Repeats inside one group-commit batch, too.
        const burst = await Promise.all([send('burst', 'key-2'), send('burst', 'key-2'), send('burst', 'key-2')]);
        assert.equal(new Set(burst.map((m) => m.id)).size, 1);
        assert.deepEqual(burst.map((m) => Boolean(m.duplicate)), [false, true, true]);
        // The key is per sender: another sender may use the same one.
        const other = await send('hello', 'key-1', b.id);
        assert.notEqual(other.id, first.id);
        await assert.rejects(send('something else', 'key-1'), (err: unknown) => err instanceof SecureChatError && err.code === 'bad_request' && err.reason === 'client_msg_id_reused');
        await assert.rejects(send('x', 'bad key!'), rejectsWith('bad_request'));
        await assert.rejects(send('x', 'k'.repeat(65)), rejectsWith('bad_request'));
        assert.equal((await s.findByClientMsgId(a.id, 'key-1'))?.id, first.id);
        assert.equal(await s.findByClientMsgId(b.id, 'key-2'), null);
        await reopen(); // kept with the message: a retry after a restart (or via another process) still matches
        assert.deepEqual(await send('hello', 'key-1'), { ...first, duplicate: true });
        assert.deepEqual((await assertGapFree(s, dm.id)).map((m) => m.body), ['hello', 'burst', 'hello']);
      });

      test('two processes retrying the same sends at once store each exactly once', async () => {
        const [a, b] = [await mkUser('a'), await mkUser('b')];
        const dm = await s.getOrCreateDm(a.id, b.id);
        const g = await s.createGroup(uniq('Retry'), a.id);
        const job: WorkerJob = {
          concurrency: 32,
          sends: Array.from({ length: 200 }, (_, i): NewMessage => ({
            conversationId: i % 2 ? dm.id : g.id, senderId: a.id, kind: 'text', body: `r${i}`, clientMsgId: `retry-${i}`,
          })),
        };
        const [w0, w1] = await runWorkers(fixture.url, [job, job]);
        assert.deepEqual([...w0, ...w1].filter((x) => x.error), [], 'no append failed');
        for (let i = 0; i < job.sends.length; i++) {
          assert.deepEqual([w0[i].id, w0[i].seq], [w1[i].id, w1[i].seq], `both processes got the same ack for r${i}`);
          assert.equal(Boolean(w0[i].duplicate) !== Boolean(w1[i].duplicate), true, `exactly one of them stored r${i}`);
        }
        const rows = [...(await assertGapFree(s, dm.id)), ...(await assertGapFree(s, g.id))];
        assert.deepEqual(rows.map((m) => m.body).sort(), job.sends.map((m) => m.body).sort());
      });
    });

    describe('offline delivery', () => {
      test('pending across conversations in id order, own messages excluded; cursor monotonic and clamped', async () => {
        const [a, b, c] = [await mkUser('a'), await mkUser('b'), await mkUser('c')];
        const dm = await s.getOrCreateDm(a.id, b.id);
        const g = await s.createGroup(uniq('Off'), a.id);
        await s.addMember(g.id, b.id);
        await s.addMember(g.id, c.id);
        const m1 = await s.appendMessage({ conversationId: dm.id, senderId: a.id, kind: 'text', body: 'dm1' });
        const m2 = await s.appendMessage({ conversationId: g.id, senderId: c.id, kind: 'text', body: 'g1' });
        await s.appendMessage({ conversationId: g.id, senderId: b.id, kind: 'text', body: 'own' });
        const m4 = await s.appendMessage({ conversationId: dm.id, senderId: a.id, kind: 'text', body: 'dm2' });
        const pending = await s.pendingFor(b.id);
        assert.deepEqual(pending.map((m) => m.id), [m1.id, m2.id, m4.id]);
        assert.equal(pending[1].conversationName, g.name);
        assert.equal(pending[1].senderName, c.username);
        assert.deepEqual((await s.pendingFor(b.id, 2)).map((m) => m.id), [m1.id, m2.id]);

        assert.equal(await s.markDelivered(b.id, dm.id, m1.id), m1.id);
        assert.equal(await s.markDelivered(b.id, dm.id, m1.id - 1), m1.id, 'never backwards');
        assert.deepEqual((await s.pendingFor(b.id)).map((m) => m.id), [m2.id, m4.id]);
        // A cursor beyond the newest message would skip future messages: clamped.
        assert.equal(await s.markDelivered(b.id, g.id, Number.MAX_SAFE_INTEGER), (await s.history(g.id)).at(-1)?.id);
        assert.equal(await s.markDelivered(b.id, 987654321, 1), null);

        await reopen(); // restart: nothing delivered is re-sent, nothing undelivered lost
        assert.deepEqual((await s.pendingFor(b.id)).map((m) => m.id), [m4.id]);
        const m5 = await s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'after' });
        assert.deepEqual((await s.pendingFor(b.id)).map((m) => m.id), [m4.id, m5.id]);
        await s.markDelivered(b.id, dm.id, m4.id);
        await s.markDelivered(b.id, g.id, m5.id);
        assert.deepEqual(await s.pendingFor(b.id), []);
      });

      test('a new member is not sent the messages from before they joined', async () => {
        const [a, b] = [await mkUser('a'), await mkUser('b')];
        const g = await s.createGroup(uniq('Late'), a.id);
        await s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'before' });
        await s.addMember(g.id, b.id);
        const after1 = await s.appendMessage({ conversationId: g.id, senderId: a.id, kind: 'text', body: 'after' });
        assert.deepEqual((await s.pendingFor(b.id)).map((m) => m.id), [after1.id]);
        assert.equal((await s.history(g.id)).length, 2);
      });

      test('concurrent markDelivered never moves a cursor backwards', async () => {
        const [a, b] = [await mkUser('a'), await mkUser('b')];
        const dm = await s.getOrCreateDm(a.id, b.id);
        const msgs = await Promise.all(Array.from({ length: 10 }, (_, i) => s.appendMessage({ conversationId: dm.id, senderId: a.id, kind: 'text', body: String(i) })));
        await Promise.all(msgs.slice().reverse().map((m) => s.markDelivered(b.id, dm.id, m.id)));
        assert.equal((await s.getMember(dm.id, b.id))?.deliveredSeq, msgs[9].seq);
      });

      test('acks of many members at once (one group-commit batch) each get their own cursor; a non-member gets null', async () => {
        const owner = await mkUser('owner');
        const g = await s.createGroup(uniq('acks'), owner.id);
        const members = await Promise.all(Array.from({ length: 30 }, () => mkUser('m')));
        for (const m of members) await s.addMember(g.id, m.id);
        const msgs = await Promise.all(Array.from({ length: 5 }, (_, i) => s.appendMessage({ conversationId: g.id, senderId: owner.id, kind: 'text', body: String(i) })));
        const stranger = await mkUser('stranger');
        const results = await Promise.all([
          ...members.map((m, i) => s.markDelivered(m.id, g.id, msgs[i % 5].id)),
          s.markDelivered(stranger.id, g.id, msgs[4].id),
        ]);
        assert.deepEqual(results, [...members.map((_, i) => msgs[i % 5].id), null]);
        const cursors = new Map((await s.getMembers(g.id)).map((m) => [m.userId, m.deliveredSeq]));
        members.forEach((m, i) => assert.equal(cursors.get(m.id), msgs[i % 5].seq));
      });
    });

    describe('files', () => {
      test('round trip with sha256; size and checksum verified', async () => {
        const a = await mkUser();
        const content = randomBytes(300_000);
        const meta = await s.storeFile({ name: 'photo.jpg', size: content.length, sha256: sha(content).toUpperCase(), content, senderId: a.id });
        assert.equal(meta.sha256, sha(content));
        const got = await s.getFile(meta.id);
        assert.ok(got);
        assert.equal(sha(got.content), sha(content));
        assert.equal(got.name, 'photo.jpg');
        assert.equal(got.size, content.length);
        assert.equal((await s.getFileByUuid(meta.uuid))?.id, meta.id);
        assert.equal(await s.getFile(987654321), null);
        await assert.rejects(s.storeFile({ name: 'x', size: 3, sha256: sha(Buffer.from('abd')), content: Buffer.from('abc'), senderId: a.id }), rejectsWith('checksum_mismatch'));
        await assert.rejects(s.storeFile({ name: 'x', size: 4, sha256: sha(Buffer.from('abc')), content: Buffer.from('abc'), senderId: a.id }), rejectsWith('bad_request'));
      });

      test('the quota sums: file bytes and the UTF-8 bytes of text messages, per sender', async () => {
        const a = await mkUser();
        const b = await mkUser();
        const dm = await s.getOrCreateDm(a.id, b.id);
        assert.equal(await s.textBytesOf(a.id), 0);
        assert.equal(await s.fileBytesOf(a.id), 0);
        await s.appendMessage({ conversationId: dm.id, senderId: a.id, kind: 'text', body: 'hé 🚀' });
        await s.appendMessage({ conversationId: dm.id, senderId: a.id, kind: 'text', body: 'x'.repeat(1000) });
        await s.appendMessage({ conversationId: dm.id, senderId: b.id, kind: 'text', body: 'not a’s' });
        const content = Buffer.from('abc');
        const f = await s.storeFile({ name: 'q.txt', size: 3, sha256: sha(content), content, senderId: a.id });
        await s.appendMessage({ conversationId: dm.id, senderId: a.id, kind: 'file', body: '{"name":"q.txt"}', fileId: f.id });
        // Bytes, not characters ('hé 🚀' is 5 characters, 8 bytes); a file message's body is not text.
        assert.equal(await s.textBytesOf(a.id), Buffer.byteLength('hé 🚀') + 1000);
        assert.equal(await s.textBytesOf(b.id), Buffer.byteLength('not a’s'));
        assert.equal(await s.fileBytesOf(a.id), 3);
      });

      test('a 10 MB file fits the backend', async () => {
        const info = await s.info();
        assert.ok(info.maxFileBytes >= 10 * 1024 * 1024, `maxFileBytes ${info.maxFileBytes}`);
        const a = await mkUser();
        const content = randomBytes(10 * 1024 * 1024);
        const meta = await s.storeFile({ name: 'big.bin', size: content.length, sha256: sha(content), content, senderId: a.id });
        assert.equal(sha((await s.getFile(meta.id))!.content), sha(content));
      });
    });

    describe('audit', () => {
      test('entries are listed newest first, filtered by user', async () => {
        const name = uniq('aud');
        await s.audit({ username: name, ip: '10.0.0.1', event: 'login_failed', detail: 'wrong password', at: 1 });
        await s.audit({ username: name, ip: '10.0.0.1', event: 'login_ok', at: 2 });
        await s.audit({ username: uniq('other'), event: 'register' });
        const mine = await s.listAudit({ username: name });
        assert.deepEqual(mine.map((e) => [e.event, e.ip, e.detail, e.at]), [
          ['login_ok', '10.0.0.1', null, 2],
          ['login_failed', '10.0.0.1', 'wrong password', 1],
        ]);
        assert.ok((await s.listAudit({ limit: 1 })).length === 1);
      });
    });

    describe('migrations', () => {
      test('idempotent, and a newer schema is refused with schema_too_new', async () => {
        const f = await makeStorage();
        try {
          const st = await openStorage(f.url);
          assert.deepEqual(await migrate(st.db), [], 'second run applies nothing');
          const status = await migrationStatus(st.db);
          assert.deepEqual([status.current, status.latest, status.pending], [LATEST_SCHEMA_VERSION, LATEST_SCHEMA_VERSION, []]);
          assert.deepEqual(status.migrations.map((m) => [m.version, m.applied]), MIGRATIONS.map((m) => [m.version, true]));
          assert.equal((await st.info()).schemaVersion, LATEST_SCHEMA_VERSION);
          await st.db.run('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)', [LATEST_SCHEMA_VERSION + 1, 'from the future', 0]);
          await st.close();
          await assert.rejects(openStorage(f.url), rejectsWith('schema_too_new'));
          await assert.rejects(openStorage(f.url, { migrate: false }), rejectsWith('schema_too_new'));
        } finally {
          await f.dispose();
        }
      });
    });

    describe('migration 002', () => {
      test('converts a version-1 database with data: seq in id order per conversation, cursors as seq, ids go on', async () => {
        const f = await makeStorage();
        try {
          const driver = openDriverForAdmin(f.url);
          let dm = 0;
          let g = 0;
          try {
            await migrate(driver, Date.now, 1);
            const before = await migrationStatus(driver);
            assert.equal(before.current, 1);
            assert.ok(before.pending.includes(2), 'db status shows 002 pending');
            assert.equal(before.migrations.find((m) => m.version === 2)?.applied, false);
            const user = async (name: string) =>
              (await driver.run('INSERT INTO users (uuid, username, username_key, password_hash, disabled, created_at) VALUES (?, ?, ?, ?, 0, 1)', [
                randomBytes(18).toString('hex').slice(0, 36), name, name, 'h',
              ])).insertId;
            const [a, b, c] = [await user('mig_a'), await user('mig_b'), await user('mig_c')];
            const conv = async (kind: string, key: string) =>
              (await driver.run('INSERT INTO conversations (kind, name, conv_key, created_at) VALUES (?, ?, ?, 1)', [kind, kind === 'group' ? key : null, key])).insertId;
            dm = await conv('dm', `dm:${a}:${b}`);
            g = await conv('group', 'group:mig');
            const member = (cid: number, uid: number, upto: number) =>
              driver.run("INSERT INTO conversation_members (conversation_id, user_id, role, delivered_upto, joined_at) VALUES (?, ?, 'member', ?, 1)", [cid, uid, upto]);
            // Version 1 wrote explicit ids; the gaps are ids of failed batches or deleted messages.
            const dmIds = [10, 11, 14, 20];
            const groupIds = [12, 13, 15, 16, 21];
            for (const id of [...dmIds, ...groupIds].sort((x, y) => x - y)) {
              await driver.run("INSERT INTO messages (id, conversation_id, sender_id, kind, body, file_id, created_at) VALUES (?, ?, ?, 'text', ?, NULL, ?)", [
                id, dmIds.includes(id) ? dm : g, a, `m${id}`, id,
              ]);
            }
            await member(dm, a, 0);
            await member(dm, b, 14); // has 10, 11, 14 → seq 3
            await member(g, a, 21);
            await member(g, b, 14); // id 14 is not in the group: the newest group message ≤ 14 is 13 → seq 2
            await member(g, c, 0);
          } finally {
            await driver.close();
          }

          const st = await openStorage(f.url); // migrates
          try {
            const status = await migrationStatus(st.db);
            assert.ok(status.current >= 2 && !status.pending.includes(2));
            assert.deepEqual((await assertGapFree(st, dm)).map((m) => [m.id, m.seq]), [[10, 1], [11, 2], [14, 3], [20, 4]]);
            assert.deepEqual((await assertGapFree(st, g)).map((m) => [m.id, m.seq]), [[12, 1], [13, 2], [15, 3], [16, 4], [21, 5]]);
            const cursors = async (cid: number) => Object.fromEntries((await st.getMembers(cid)).map((m) => [m.username, m.deliveredSeq]));
            assert.deepEqual(await cursors(dm), { mig_a: 0, mig_b: 3 });
            assert.deepEqual(await cursors(g), { mig_a: 5, mig_b: 2, mig_c: 0 });
            const bob = await st.getUserByName('mig_b');
            assert.deepEqual((await st.pendingFor(bob!.id)).map((m) => m.id), [15, 16, 20, 21], 'exactly what was pending before');
            const next = await st.appendMessage({ conversationId: dm, senderId: bob!.id, kind: 'text', body: 'after' });
            assert.deepEqual([next.seq, next.id > 21], [5, true]);
            assert.equal((await st.appendMessage({ conversationId: g, senderId: bob!.id, kind: 'text', body: 'after' })).seq, 6);
            assert.equal(await st.markDelivered(bob!.id, dm, 20), 20);
            assert.equal((await st.getMember(dm, bob!.id))?.deliveredSeq, 4);
          } finally {
            await st.close();
          }
        } finally {
          await f.dispose();
        }
      });
    });

    test('close is idempotent; calls after close fail with storage_unavailable', async () => {
      const f = await makeStorage();
      try {
        const st: Storage = await openStorage(f.url);
        await st.close();
        await st.close();
        await assert.rejects(st.getUserById(1), rejectsWith('storage_unavailable'));
        await assert.rejects(st.appendMessage({ conversationId: 1, senderId: 1, kind: 'text', body: 'x' }), rejectsWith('storage_unavailable'));
      } finally {
        await f.dispose();
      }
    });
  });
}
