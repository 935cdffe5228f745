/**
 * Issue 10, cases 1 and 9, against the real `securechat serve` process: what a client that never
 * reads can make the server hold. The server's RSS is read from /proc from outside; the bound is
 * the session's send queue bound (README "Limits enforced by the server"), plus generous slack for
 * V8 — far below the hundreds of MiB the same floods took before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient } from '../../scripts/fuzz/raw-client.js';
import { MiB, PASSWORD, startServe, stillServed, type ServeProcess } from '../helpers/hostile-serve.js';

let srv: ServeProcess;

before(async () => {
  srv = await startServe({
    config: {
      maxSendQueueBytes: 1 * MiB,
      sendStallTimeoutMs: 3000,
      // A generous rate once logged in, so the send path (not the rate limiter) is what stops the
      // history flood; the pre-login budget keeps its default (5/s, bursts of 20).
      requestsPerSecond: 100_000,
      requestBurst: 100_000,
    },
  });
  // Accounts and a group with 17 messages of 64 KiB (case 9), written once.
  const alice = await srv.login('alice');
  (await srv.login('bob')).close();
  (await srv.login('mallory')).close();
  await alice.request('group_create', { name: 'big' });
  await alice.request('group_add', { group: 'big', user: 'mallory' });
  for (let i = 0; i < 17; i++) await alice.request('group_send', { group: 'big', text: `${i}:${'x'.repeat(64 * 1024 - 8)}` });
  alice.close();
});
after(() => srv?.stop());

test('case 1a: a ping flood before login from a client that never reads: pings cost tokens, pongs are not queued per ping', async () => {
  const flooder = await RawClient.connect(srv.port, srv.identity('mallory'));
  flooder.stopReading();
  srv.resetPeak();
  const startRss = srv.rss();
  // 3 s of pings as fast as the socket takes them (the old server grew ~16 MiB/s doing this).
  const sent = await flooder.flood(3000, () => ({ msg: { type: 'ping' } }));
  const growth = srv.peakRss - startRss;
  assert.ok(sent > 10_000, `the flood sent ${sent} pings`);
  assert.ok(growth < 64 * MiB, `server RSS grew ${(growth / MiB).toFixed(1)} MiB for ${sent} unread pings`);
  // Read now: the pre-login budget (a burst of 20, then 5/s) answered a few dozen pings, not thousands.
  const pongs = new Promise<number>((resolve) => {
    let n = 0;
    let quiet: NodeJS.Timeout | undefined;
    flooder.on('pong', () => {
      n++;
      clearTimeout(quiet);
      quiet = setTimeout(() => resolve(n), 500);
    });
    quiet = setTimeout(() => resolve(n), 2000);
  });
  flooder.socket.resume();
  const answered = await pongs;
  assert.ok(answered >= 1 && answered <= 20 + 5 * 6, `${answered} pongs for ${sent} pings`);
  flooder.close();
  await stillServed(srv);
});

test('case 1b: large history pages requested by a logged-in client that never reads: bounded memory, still served', async () => {
  const flooder = await RawClient.connect(srv.port, srv.identity('mallory'));
  const login = await flooder.request('login', { password: PASSWORD });
  assert.equal(login.ok, true, JSON.stringify(login));
  flooder.stopReading();
  srv.resetPeak();
  const startRss = srv.rss();
  // Each page is ~1 MiB of JSON; the old server queued every one (93 → 811 MiB in 12 s).
  const sent = await flooder.flood(3000, () => ({ msg: { type: 'history', group: 'big', limit: 200 } }));
  const growth = srv.peakRss - startRss;
  assert.ok(growth < 64 * MiB, `server RSS grew ${(growth / MiB).toFixed(1)} MiB for ${sent} unread history pages`);
  // Past the send bound the server stopped reading it, and closed it for not draining (the client
  // reads nothing, so the server's log says why).
  await flooder.closed;
  assert.match(srv.output(), /closing a session (that does not read|whose backlog did not drain)/);
  await stillServed(srv);
});

test('case 9: a history page that would exceed the frame limit is cut to fit and says there is more', async () => {
  const alice = await srv.login('alice');
  try {
    const texts: string[] = [];
    let before: number | undefined;
    let pages = 0;
    for (;;) {
      const page = await alice.request<{ messages: { id: number; text: string }[]; more?: boolean }>('history', { group: 'big', ...(before ? { before } : {}) });
      pages++;
      assert.ok(page.messages.length > 0 || !page.more);
      texts.unshift(...page.messages.map((m) => m.text));
      if (!page.more && page.messages.length < 50) break;
      before = page.messages[0].id;
    }
    assert.ok(pages >= 2, 'one frame cannot hold 17 × 64 KiB: the first page was cut');
    assert.deepEqual(texts.map((t) => Number(t.split(':')[0])), Array.from({ length: 17 }, (_, i) => i), 'every message once, in order');
  } finally {
    alice.close();
  }
});
