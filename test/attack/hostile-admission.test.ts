/**
 * Issue 10, cases 5, 6 and 7, against the real `securechat serve` process: session caps and the
 * file-descriptor reserve, fair handshake slots across source addresses, and a replay cache that
 * junk cannot fill. Loopback has a whole /8, so 127.0.0.2… stand in for other client addresses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import { issueCertificate } from '../../src/pki/issue.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame.js';
import { clientHelloBytes } from '../../scripts/fuzz/raw-connection.js';
import { RawClient } from '../../scripts/fuzz/raw-client.js';
import { PASSWORD, dmRoundTrip, startServe, type ServeProcess } from '../helpers/hostile-serve.js';

interface Silent {
  socket: net.Socket;
  /** The server's first clear-text frame (its refusal), or null if it closed without one. */
  answer: Promise<{ code?: string; reason?: string } | null>;
}

async function silentSocket(port: number, localAddress: string): Promise<Silent> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  const decoder = new FrameDecoder(1 << 20);
  const answer = new Promise<{ code?: string; reason?: string } | null>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      try {
        const frames = decoder.push(chunk);
        if (frames.length > 0) resolve(JSON.parse(frames[0].toString('utf8')) as { code?: string });
      } catch {
        resolve(null);
      }
    });
    socket.on('close', () => resolve(null));
  });
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => resolve());
  });
  return { socket, answer };
}

/** Resolves once the server has answered or accepted: a short quiet period means "held open". */
function answeredWithin(s: Silent, ms: number): Promise<{ code?: string; reason?: string } | null | 'open'> {
  return Promise.race([s.answer, new Promise<'open'>((r) => setTimeout(() => r('open'), ms))]);
}

async function stillServed(srv: ServeProcess, alice: import('../../src/client/client.js').SecureChatClient, bob: import('../../src/client/client.js').SecureChatClient): Promise<void> {
  await dmRoundTrip(alice, bob, 'bob', `still served ${randomBytes(4).toString('hex')}`);
  assert.ok(!srv.output().includes('closing idle session'), 'nobody lost a session');
}

test('case 5: caps on sessions per certificate, per address and in total; the logged-in keep being served', async () => {
  const srv = await startServe({ config: { maxSessions: 40, maxSessionsPerIp: 30, maxSessionsPerCertificate: 5, maxSessionsPerUser: 6 } });
  const opened: { close(): void }[] = [];
  try {
    const alice = await srv.login('alice');
    const bob = await srv.login('bob');
    // One certificate, ten sessions: five get in, the rest are refused with busy.
    const tries = await Promise.allSettled(Array.from({ length: 10 }, () => RawClient.connect(srv.port, srv.identity('mallory'), '127.0.0.2')));
    const ok = tries.filter((t) => t.status === 'fulfilled').map((t) => (t as PromiseFulfilledResult<RawClient>).value);
    opened.push(...ok);
    assert.equal(ok.length, 5, `${ok.length} sessions for one certificate`);
    for (const t of tries.filter((x) => x.status === 'rejected')) assert.match(String((t as PromiseRejectedResult).reason), /busy|sessions_per_certificate|Too many sessions/);
    // One address: 30 connections (silent ones count), then busy.
    const fromOne = await Promise.all(Array.from({ length: 31 }, () => silentSocket(srv.port, '127.0.0.3')));
    opened.push(...fromOne.map((s) => ({ close: () => s.socket.destroy() })));
    const answers = await Promise.all(fromOne.map((s) => answeredWithin(s, 500)));
    assert.equal(answers.filter((a) => a === 'open').length, 30);
    assert.deepEqual(answers.find((a) => a !== 'open'), { type: 'error', code: 'busy', message: 'The server is busy; try again shortly.', reason: 'sessions_per_address' });
    // In total: 2 + 5 + 30 are open, the cap is 40.
    const more = await Promise.all(Array.from({ length: 6 }, () => silentSocket(srv.port, '127.0.0.4')));
    opened.push(...more.map((s) => ({ close: () => s.socket.destroy() })));
    const moreAnswers = await Promise.all(more.map((s) => answeredWithin(s, 500)));
    assert.equal(moreAnswers.filter((a) => a === 'open').length, 3, JSON.stringify(moreAnswers));
    assert.ok(moreAnswers.some((a) => a !== 'open' && a?.reason === 'max_sessions'), JSON.stringify(moreAnswers));
    await stillServed(srv, alice, bob);
    alice.close();
    bob.close();
  } finally {
    for (const o of opened) o.close();
    await srv.stop();
  }
});

test('case 5: the per-user cap counts the sessions of every certificate of one account', async () => {
  const srv = await startServe({ config: { maxSessionsPerCertificate: 4, maxSessionsPerUser: 6 } });
  const opened: RawClient[] = [];
  try {
    const alice = await srv.login('alice');
    const bob = await srv.login('bob');
    // A second certificate for mallory, from the same CA: another key, the same account name.
    await issueCertificate({ dir: srv.certs, kind: 'client', name: 'mallory', certOut: join(srv.certs, 'mallory2_cert.pem'), keyOut: join(srv.certs, 'mallory2_key.pem') });
    const connectAll = async (identity: string, n: number): Promise<string[]> => {
      const tries = await Promise.allSettled(Array.from({ length: n }, () => RawClient.connect(srv.port, srv.identity(identity))));
      for (const t of tries) if (t.status === 'fulfilled') opened.push(t.value);
      return tries.map((t) => (t.status === 'fulfilled' ? 'ok' : String((t as PromiseRejectedResult).reason)));
    };
    // The first certificate: its own cap (4) binds.
    const first = await connectAll('mallory', 6);
    assert.equal(first.filter((r) => r === 'ok').length, 4, JSON.stringify(first));
    assert.ok(first.filter((r) => r !== 'ok').every((r) => /certificate/.test(r)), JSON.stringify(first));
    // The second: under its own cap, but the account has 4 of its 6 already: 2 more, then sessions_per_user.
    const second = await connectAll('mallory2', 4);
    assert.equal(second.filter((r) => r === 'ok').length, 2, JSON.stringify(second));
    assert.ok(second.filter((r) => r !== 'ok').every((r) => /account/.test(r)), JSON.stringify(second));
    assert.equal(opened.length, 6);
    await stillServed(srv, alice, bob);
    // A session closes: one more gets in (once the server has seen the close).
    opened.pop()?.close();
    let again: string[] = [];
    for (let i = 0; i < 100 && again[0] !== 'ok'; i++) {
      again = await connectAll('mallory2', 1);
      if (again[0] !== 'ok') await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(again, ['ok']);
    alice.close();
    bob.close();
  } finally {
    for (const c of opened) c.close();
    await srv.stop();
  }
});

test('case 5: near the soft RLIMIT_NOFILE new connections get busy (fd_reserve) and logged-in users keep their sessions', async () => {
  const srv = await startServe({ nofile: 200, config: { fdReserve: 64, maxHandshakes: 1000, maxHandshakesPerIp: 1000 } });
  const sockets: Silent[] = [];
  try {
    const alice = await srv.login('alice');
    const bob = await srv.login('bob');
    // 200 silent sockets against a limit of 200 descriptors: the server refuses before it runs out.
    for (let i = 0; i < 200; i++) sockets.push(await silentSocket(srv.port, '127.0.0.2'));
    const answers = await Promise.all(sockets.map((s) => answeredWithin(s, 1000)));
    const refused = answers.filter((a) => a !== 'open' && a?.reason === 'fd_reserve').length;
    assert.ok(refused > 0, JSON.stringify(answers.slice(-3)));
    assert.ok(answers.filter((a) => a === 'open').length >= 100, 'most descriptors are usable');
    await stillServed(srv, alice, bob);
    for (const s of sockets) s.socket.destroy();
    // And once they are gone, new users get in again.
    const carol = await srv.login('carol');
    carol.close();
    alice.close();
    bob.close();
  } finally {
    for (const s of sockets) s.socket.destroy();
    await srv.stop();
  }
});

test('case 6: 64 silent sockets from each of 4 addresses cannot take the handshake slots of a fifth address', async () => {
  // A long handshake deadline: on a loaded machine opening 257 sockets and 48 handshakes can take
  // longer than the default 10 s, and silent sockets timing out would look like evictions.
  const srv = await startServe({ config: { maxSessionsPerCertificate: 100, maxSessionsPerUser: 100, passwordHashesPerIp: 64, passwordHashesPerCertificate: 64, handshakeTimeoutMs: 120_000 } });
  const silent: Silent[] = [];
  const clients: RawClient[] = [];
  try {
    (await srv.login('alice')).close();
    for (const a of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
      for (let i = 0; i < 64; i++) silent.push(await silentSocket(srv.port, a));
    }
    // The per-address limit holds for silent sockets: a 65th from one of them is refused at once.
    const extra = await silentSocket(srv.port, '127.0.0.2');
    silent.push(extra);
    assert.equal((await answeredWithin(extra, 2000) as { reason?: string } | 'open' | null) !== 'open', true, 'the 65th silent socket of one address is refused');
    // 48 legitimate logins from a fifth address all get in (the old server let 1 of 48 through).
    const tries = await Promise.allSettled(Array.from({ length: 48 }, () => RawClient.connect(srv.port, srv.identity('alice'), '127.0.0.6')));
    const ok = tries.filter((t) => t.status === 'fulfilled').map((t) => (t as PromiseFulfilledResult<RawClient>).value);
    clients.push(...ok);
    assert.equal(ok.length, 48, String(tries.find((t) => t.status === 'rejected') && (tries.find((t) => t.status === 'rejected') as PromiseRejectedResult).reason));
    const logins = await Promise.all(ok.map((c) => c.request('login', { password: PASSWORD })));
    assert.equal(logins.filter((r) => r.ok).length, 48, JSON.stringify(logins.find((r) => !r.ok)));
    // The evicted silent sockets were told why.
    // Their slots came from the silent sockets (evicted only as needed: a finished handshake frees its own).
    const evicted = (await Promise.all(silent.map((s) => answeredWithin(s, 100)))).filter((a) => a !== 'open').length;
    assert.ok(evicted >= 2 && evicted <= 49, `${evicted} silent sockets evicted`);
  } finally {
    for (const s of silent) s.socket.destroy();
    for (const c of clients) c.close();
    await srv.stop();
  }
});

/** Sends one client_hello from `localAddress`; resolves with the server's first answer. */
async function hello(port: number, localAddress: string, overrides: Record<string, unknown> = {}): Promise<{ type?: string; code?: string; reason?: string } | null> {
  const s = await silentSocket(port, localAddress);
  s.socket.write(encodeFrame(clientHelloBytes(overrides).bytes));
  const answer = await s.answer;
  s.socket.destroy();
  return answer;
}

test('case 7: malformed hellos never reach the replay cache, one address gets only its share of it, refusals are logged as a count', async () => {
  const srv = await startServe({ config: { replayCacheSize: 300, replayCachePerIp: 100, refusalLogIntervalMs: 1500, maxHandshakesPerIp: 256 } });
  try {
    // 1,000 hellos with an all-zero (low-order) X25519 share: refused as malformed, nothing stored.
    const zero = Buffer.alloc(32).toString('base64');
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => hello(srv.port, '127.0.0.2', { key_share: zero })));
      for (const a of answers) assert.equal(a?.code, 'malformed', JSON.stringify(a));
    }
    // The cache (300 entries) was not filled by them: valid handshakes still get in.
    const ok = await RawClient.connect(srv.port, srv.identity('alice'), '127.0.0.3');
    ok.close();
    // One address filling the cache with valid hellos gets busy after its share (100)…
    const answers: (string | undefined)[] = [];
    for (let batch = 0; batch < 11; batch++) {
      answers.push(...(await Promise.all(Array.from({ length: 10 }, () => hello(srv.port, '127.0.0.4')))).map((a) => a?.type === 'server_hello' ? 'ok' : `${a?.code}:${a?.reason}`));
    }
    assert.equal(answers.filter((a) => a === 'ok').length, 100, JSON.stringify(answers.slice(95)));
    assert.ok(answers.slice(100).every((a) => a === 'busy:replay_cache_share'), JSON.stringify(answers.slice(100)));
    // … while everyone else still gets in.
    const other = await RawClient.connect(srv.port, srv.identity('bob'), '127.0.0.5');
    other.close();
    // Over 1,000 refusals, but the log has at most 20 lines per interval plus one count.
    const until = Date.now() + 10_000;
    while (!/more refused connections\/handshakes/.test(srv.output()) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const lines = srv.output().split('\n');
    assert.ok(lines.some((l) => /more refused connections\/handshakes/.test(l)), 'a summary line counts the rest');
    const oneByOne = lines.filter((l) => /handshake failed/.test(l)).length;
    assert.ok(oneByOne <= 20 * 8, `${oneByOne} refusal lines for 1,000+ refusals`);
  } finally {
    await srv.stop();
  }
});
