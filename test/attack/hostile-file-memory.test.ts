/**
 * Issue 10, the file memory left after cases 4 and 8, against the real `securechat serve` process:
 * stored files pass through memory twice — file_complete reads the spooled upload back to store it,
 * and the recent-files cache keeps it for the downloads that follow — and every download holds a
 * whole file while it streams. Many sessions that store files and then download them without
 * reading ask the server to hold sessions × files × size at once. The server's own accounting
 * (its /metrics: `securechat_file_memory_bytes`) must stay within `maxDownloadBytes` and
 * `recentFilesBytes`, its RSS must not grow with what was asked for (a generous bound), and the
 * budgets must be given back once the attackers go. The attackers run in their own processes
 * (scripts/fuzz/flood-worker.ts, kind `file_memory`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MiB, PASSWORD, eventually, floodFromProcess, startServe, stillServed } from '../helpers/hostile-serve.js';

const TRANSFER_BUDGET = 32 * MiB;
const CACHE_BUDGET = 16 * MiB;
const FILE_BYTES = 8 * MiB;
const SESSIONS_PER_USER = 12;
const FILES_PER_SESSION = 2;

const TRANSFERS = 'securechat_file_memory_bytes{use="transfers"}';
const CACHE = 'securechat_file_memory_bytes{use="recent_cache"}';

test('file memory: stored files downloaded by sessions that never read stay within maxDownloadBytes + recentFilesBytes; the budgets are given back', async (t) => {
  // Budgets scaled down (defaults 256 MiB and 64 MiB) so that what the attack asks for is many
  // times them; the stall deadline (30 s default) outlasts the attack, so no download ends early.
  const srv = await startServe({
    users: ['alice', 'bob', 'mallory', 'carol'],
    admin: true,
    config: { maxDownloadBytes: TRANSFER_BUDGET, recentFilesBytes: CACHE_BUDGET, sendStallTimeoutMs: 120_000 },
  });
  const attackers: ReturnType<typeof floodFromProcess>[] = [];
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  try {
    for (const u of ['alice', 'bob', 'mallory', 'carol']) (await srv.login(u)).close();
    const startRss = srv.rss();
    srv.resetPeak();
    let maxTransfers = 0;
    let maxCache = 0;
    let maxBoth = 0;
    sampler = (async () => {
      while (sampling) {
        const [transfers, cache] = await Promise.all([srv.metric(TRANSFERS), srv.metric(CACHE)]);
        maxTransfers = Math.max(maxTransfers, transfers);
        maxCache = Math.max(maxCache, cache);
        maxBoth = Math.max(maxBoth, transfers + cache);
        await new Promise((r) => setTimeout(r, 50));
      }
    })().catch(() => undefined);
    const attack = { port: srv.port, certs: srv.certs, password: PASSWORD, ms: 0, read: true, peer: 'bob', kind: 'file_memory' as const, sessions: SESSIONS_PER_USER, files: FILES_PER_SESSION, fileBytes: FILE_BYTES, holdMs: 600_000 };
    attackers.push(floodFromProcess({ ...attack, user: 'mallory' }));
    attackers.push(floodFromProcess({ ...attack, user: 'carol' }));
    const results = await Promise.all(attackers.map((a) => a.done));
    // The downloads are stalled now (nobody reads them); let the server sit in that state a while.
    await new Promise((r) => setTimeout(r, 3000));
    const heldRss = srv.peakRss - startRss;
    // Others are still served while the attackers hold their stalled downloads.
    await stillServed(srv);
    const busyGets = await srv.metric('securechat_requests_total{type="file_get",code="busy"}');
    const busyCompletes = await srv.metric('securechat_requests_total{type="file_complete",code="busy"}');
    const okGets = await srv.metric('securechat_requests_total{type="file_get",code="ok"}');
    const asked = 2 * SESSIONS_PER_USER * FILES_PER_SESSION * FILE_BYTES;
    const stored = results.reduce((a, r) => a + (r.tally['stored'] ?? 0), 0);
    const detail = JSON.stringify({
      tallies: results.map((r) => r.tally),
      maxTransfersMiB: maxTransfers / MiB,
      maxCacheMiB: maxCache / MiB,
      rssGrowthMiB: heldRss / MiB,
      busyGets,
      busyCompletes,
      okGets,
    });
    t.diagnostic(
      `${stored} files of ${FILE_BYTES / MiB} MiB stored, then downloaded by sessions that never read (${asked / MiB} MiB asked for); ` +
        `server accounting at most ${(maxTransfers / MiB).toFixed(0)} MiB transfers (budget ${TRANSFER_BUDGET / MiB}) + ${(maxCache / MiB).toFixed(0)} MiB cache (budget ${CACHE_BUDGET / MiB}); ` +
        `file_get busy ${busyGets}, file_complete busy ${busyCompletes}; server RSS +${(heldRss / MiB).toFixed(0)} MiB at the peak`,
    );
    assert.ok(results.every((r) => r.error === undefined), detail);
    assert.ok(stored >= SESSIONS_PER_USER, `most uploads are stored (the attack is real): ${detail}`);
    // The server's accounting: never above either budget, whatever was asked for.
    assert.ok(maxTransfers <= TRANSFER_BUDGET, detail);
    assert.ok(maxCache <= CACHE_BUDGET, detail);
    assert.ok(maxBoth <= TRANSFER_BUDGET + CACHE_BUDGET, detail);
    // The attack pushed against the budget: downloads it could not hold were refused with busy.
    assert.ok(busyGets > 0, detail);
    // RSS, generously: the budgets plus 240 MiB for socket buffers, the decrypted chunks of 24
    // uploads and garbage V8 collects late (measured: +160 MiB in all); unbounded, the stalled
    // downloads alone would hold `asked` (384 MiB).
    const rssBound = TRANSFER_BUDGET + CACHE_BUDGET + 240 * MiB;
    assert.ok(heldRss < rssBound, `server RSS grew ${(heldRss / MiB).toFixed(0)} MiB: ${detail}`);
    assert.ok(asked > rssBound, 'the attack asks for more than the RSS bound allows');
    // The attackers go: every download ends and its bytes are given back.
    await Promise.all(attackers.map((a) => a.stop()));
    assert.ok(await eventually(async () => (await srv.metric(TRANSFERS)) === 0), `${await srv.metric(TRANSFERS)} transfer bytes still held after the attackers left`);
    assert.ok((await srv.metric(CACHE)) <= CACHE_BUDGET);
    await stillServed(srv);
  } finally {
    sampling = false;
    await sampler;
    await Promise.all(attackers.map((a) => a.stop()));
    await srv.stop();
  }
});
