/**
 * Issue 10, cases 4 and 8, against the real `securechat serve` process: unfinished uploads from
 * many sessions go to the spool on disk within its budgets (server RSS stays flat, the spool never
 * holds more than `maxSpoolBytes`, the idle timeout frees it), and uploads to an offline recipient
 * stop at the user's quota with `quota_exceeded` (the database does not grow past it). The
 * attackers run in their own processes (scripts/fuzz/flood-worker.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { uploadFile } from '../../scripts/fuzz/floods.js';
import { RawClient } from '../../scripts/fuzz/raw-client.js';
import { MiB, PASSWORD, bytesUnder, eventually, floodFromProcess, startServe, stillServed, type FloodResult, type ServeProcess } from '../helpers/hostile-serve.js';

function count(r: FloodResult, prefix: string): number {
  return Object.entries(r.tally).filter(([k]) => k.startsWith(prefix)).reduce((a, [, n]) => a + n, 0);
}

/** alice (a well-behaved user) sends bob a small file: 'stored' or the refusal's code. */
async function aliceSendsAFile(srv: ServeProcess): Promise<string> {
  const alice = await RawClient.connect(srv.port, srv.identity('alice'));
  try {
    const login = await alice.request('login', { password: PASSWORD });
    assert.equal(login.ok, true, JSON.stringify(login));
    return (await uploadFile(alice, 'bob', randomBytes(64 * 1024), true)).code;
  } finally {
    alice.close();
  }
}

const SPOOL_BUDGET = 320 * MiB;

test('case 4: unfinished uploads from many sessions are spooled to disk within the per-user and server-wide budgets; RSS stays flat', async (t) => {
  // Per-session and per-user budgets at their defaults (64 / 128 MiB); the server-wide one scaled
  // down from 1 GiB so three users reach it; the default idle timeout (60 s) outlasts the test.
  const srv = await startServe({ users: ['alice', 'bob', 'mallory', 'carol', 'dave'], config: { maxSpoolBytes: SPOOL_BUDGET } });
  const attackers: ReturnType<typeof floodFromProcess>[] = [];
  try {
    for (const u of ['alice', 'bob', 'mallory', 'carol', 'dave']) (await srv.login(u)).close();
    const spool = join(srv.dir, 'spool');
    const startRss = srv.rss();
    srv.resetPeak();
    let peakSpool = 0;
    const sampler = setInterval(() => (peakSpool = Math.max(peakSpool, bytesUnder(spool))), 100);
    // The shape: one user, 12 sessions × 4 unfinished ~10 MiB uploads; and two more users.
    const attack = { port: srv.port, certs: srv.certs, password: PASSWORD, ms: 0, read: true, peer: 'bob', files: 4, fileBytes: 10 * MiB, holdMs: 600_000 };
    attackers.push(floodFromProcess({ ...attack, user: 'mallory', kind: 'unfinished_uploads', sessions: 12 }));
    attackers.push(floodFromProcess({ ...attack, user: 'carol', kind: 'unfinished_uploads', sessions: 12 }));
    attackers.push(floodFromProcess({ ...attack, user: 'dave', kind: 'unfinished_uploads', sessions: 8 }));
    const results = await Promise.all(attackers.map((a) => a.done));
    peakSpool = Math.max(peakSpool, bytesUnder(spool));
    clearInterval(sampler);
    const growth = srv.peakRss - startRss;
    const held = results.map((r) => count(r, 'unfinished'));
    const total = (prefix: string): number => results.reduce((a, r) => a + count(r, prefix), 0);
    const detail = JSON.stringify({ tallies: results.map((r) => r.tally), peakSpoolMiB: peakSpool / MiB, rssGrowthMiB: growth / MiB });
    assert.ok(results.every((r) => r.error === undefined), detail);
    await new Promise((r) => setTimeout(r, 2000));
    t.diagnostic(`${total('unfinished')} of 128 uploads held (${(peakSpool / MiB).toFixed(0)} MiB spooled at the peak, budget ${SPOOL_BUDGET / MiB} MiB); server RSS +${(growth / MiB).toFixed(1)} MiB at the peak, +${((srv.rss() - startRss) / MiB).toFixed(1)} MiB 2 s later`);
    // 128 uploads of 10 MiB were offered; the budgets let 32 in (320 MiB), each user at most 12 (128 MiB).
    assert.ok(held.every((n) => n <= 12), detail);
    assert.ok(total('unfinished') <= 32 && total('unfinished') >= 30, detail);
    assert.equal(total('unfinished') + total('offer:'), 128, detail);
    assert.ok(total('offer:busy:spool_full') > 0, detail);
    // The bytes are on disk, within the server-wide budget, not in the server's memory. (What RSS
    // does grow by is garbage V8 collects late: it does not scale with the bytes spooled.)
    assert.ok(peakSpool <= SPOOL_BUDGET, detail);
    assert.ok(peakSpool >= 280 * MiB, detail);
    // The old server held every byte in RAM (growth ≥ the bytes held); the bound is half of them.
    assert.ok(growth < Math.min(160 * MiB, peakSpool / 2), `server RSS grew ${(growth / MiB).toFixed(1)} MiB holding ${(peakSpool / MiB).toFixed(0)} MiB of unfinished uploads: ${detail}`);
    // Others are served; with the server-wide budget spent, a new upload is told to retry later.
    await stillServed(srv);
    assert.equal(await aliceSendsAFile(srv), 'offer:busy:spool_full');
    // The attackers' sessions close: their spool files are deleted and the budget is free again.
    await Promise.all(attackers.map((a) => a.stop()));
    assert.ok(await eventually(() => bytesUnder(spool) === 0), `${bytesUnder(spool)} spool bytes left after the sessions closed`);
    assert.equal(await aliceSendsAFile(srv), 'stored');
  } finally {
    await Promise.all(attackers.map((a) => a.stop()));
    await srv.stop();
  }
});

test('case 4: an upload left idle past uploadIdleTimeoutMs is dropped and its spool file deleted, while its session stays open', async () => {
  const srv = await startServe({ config: { maxSpoolBytes: 32 * MiB, uploadIdleTimeoutMs: 3000 } });
  let attack: ReturnType<typeof floodFromProcess> | undefined;
  try {
    for (const u of ['alice', 'bob', 'mallory']) (await srv.login(u)).close();
    attack = floodFromProcess({ port: srv.port, certs: srv.certs, user: 'mallory', password: PASSWORD, kind: 'unfinished_uploads', ms: 0, read: true, peer: 'bob', sessions: 4, files: 2, fileBytes: 4 * MiB, holdMs: 600_000 });
    const spool = join(srv.dir, 'spool');
    let peakSpool = 0;
    const sampler = setInterval(() => (peakSpool = Math.max(peakSpool, bytesUnder(spool))), 100);
    const result = await attack.done;
    clearInterval(sampler);
    assert.equal(result.error, undefined, JSON.stringify(result));
    assert.ok(count(result, 'unfinished') > 0, JSON.stringify(result));
    assert.ok(peakSpool > 0 && peakSpool <= 32 * MiB, `peak spool ${peakSpool} bytes`);
    // The worker still holds its 4 sessions open; only the idle timeout can free the spool.
    assert.ok(await eventually(() => bytesUnder(spool) === 0, 30_000), `${bytesUnder(spool)} spool bytes left past the idle timeout`);
    assert.equal(await aliceSendsAFile(srv), 'stored');
  } finally {
    await attack?.stop();
    await srv.stop();
  }
});

test('case 4: one session\'s unfinished uploads stop at maxSpoolBytesPerSession and at 4 open transfers; its spool goes with it', async () => {
  const srv = await startServe({ config: { maxSpoolBytesPerSession: 16 * MiB } });
  const sessions: RawClient[] = [];
  try {
    for (const u of ['bob', 'mallory']) (await srv.login(u)).close();
    const session = async (): Promise<RawClient> => {
      const c = await RawClient.connect(srv.port, srv.identity('mallory'));
      sessions.push(c);
      assert.equal((await c.request('login', { password: PASSWORD })).ok, true);
      return c;
    };
    const spool = join(srv.dir, 'spool');
    const first = await session();
    const unfinished = async (c: RawClient, bytes: number): Promise<string> => (await uploadFile(c, 'bob', randomBytes(bytes), false)).code;
    assert.equal(await unfinished(first, 10 * MiB), 'unfinished');
    // 10 + 10 MiB would pass the session's 16 MiB: refused before a byte moves.
    assert.equal(await unfinished(first, 10 * MiB), 'offer:rate_limited:spool_session');
    for (let i = 0; i < 3; i++) assert.equal(await unfinished(first, 1 * MiB), 'unfinished');
    // Four transfers open (13 MiB): a fifth is refused whatever its size.
    assert.match(await unfinished(first, 1024), /^offer:rate_limited/);
    assert.ok(bytesUnder(spool) <= 16 * MiB, `${bytesUnder(spool)} bytes spooled`);
    // The budget is per session: another session of the same user has its own.
    const second = await session();
    assert.equal(await unfinished(second, 10 * MiB), 'unfinished');
    // The first session goes: its four uploads and their spool files go with it.
    first.close();
    assert.ok(await eventually(() => bytesUnder(spool) < 11 * MiB), `${bytesUnder(spool)} spool bytes after the session closed`);
    await stillServed(srv);
  } finally {
    for (const c of sessions) c.close();
    await srv.stop();
  }
});

/** The SQLite database's bytes on disk (the WAL counts until it is checkpointed). */
function dbBytes(srv: ServeProcess): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(srv.dbFile + suffix).size;
    } catch {
      // no WAL yet
    }
  }
  return total;
}

test('case 8: uploads to an offline recipient stop at the user\'s quota with quota_exceeded; the database does not grow past it', async (t) => {
  const QUOTA = 8 * MiB;
  const srv = await startServe({ config: { userQuotaBytes: QUOTA, maxFileBytes: 1 * MiB } });
  try {
    for (const u of ['alice', 'bob', 'mallory']) (await srv.login(u)).close();
    const before = dbBytes(srv);
    // Four sessions at once, ten 1 MiB files each, to bob (offline): 40 MiB tried against 8 MiB.
    const attack = floodFromProcess({ port: srv.port, certs: srv.certs, user: 'mallory', password: PASSWORD, kind: 'quota', ms: 0, read: true, peer: 'bob', sessions: 4, files: 10, fileBytes: 1 * MiB });
    const result = await attack.done;
    const detail = JSON.stringify(result.tally);
    const stored = count(result, 'stored');
    assert.ok(stored >= 1 && stored <= QUOTA / MiB, `${stored} files stored: ${detail}`);
    assert.ok(count(result, 'offer:quota_exceeded') + count(result, 'complete:quota_exceeded') >= 40 - QUOTA / MiB, detail);
    assert.equal(stored + count(result, 'offer:quota_exceeded') + count(result, 'complete:quota_exceeded'), 40, `every try stored or refused with quota_exceeded: ${detail}`);
    // The quota is mallory's, not everyone's: alice still sends bob a file.
    assert.equal(await aliceSendsAFile(srv), 'stored');
    // The database grew by at most the quota (plus pages, indexes and alice's file), WAL included.
    const growth = dbBytes(srv) - before;
    t.diagnostic(`${stored} of 40 files stored, the rest quota_exceeded; database +${(growth / MiB).toFixed(1)} MiB (quota ${QUOTA / MiB} MiB)`);
    assert.ok(growth <= 2 * QUOTA + 4 * MiB, `the database grew ${(growth / MiB).toFixed(1)} MiB for a ${QUOTA / MiB} MiB quota`);
    await stillServed(srv);
  } finally {
    await srv.stop();
  }
});
