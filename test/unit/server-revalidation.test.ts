/**
 * Revalidator (issue 9 §4): expiry by one min-heap and one timer, revocation by serial index —
 * only the sessions concerned are touched — and the CRL monitor's hourly stale warning.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import winston from 'winston';
import { SecureChatError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { writeCrl } from '../../src/pki/ca.js';
import { ensureCertificates } from '../../src/pki/generate.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { CrlMonitor } from '../../src/server/crl-monitor.js';
import { crlStatus } from '../../src/server/crl-status.js';
import { Revalidator, type Revalidatable } from '../../src/server/revalidation.js';

class Stub implements Revalidatable {
  closed = false;
  closedWith: SecureChatError | undefined;
  readonly username: string;
  readonly identity;
  constructor(readonly id: string, notAfter: number, serials: string[]) {
    this.username = id;
    this.identity = { username: id, fingerprint: id, path: [Buffer.from(id)], notAfter, serials };
  }
  fail(err: SecureChatError): void {
    this.closed = true;
    this.closedWith = err;
  }
}

test('expiry: exactly the sessions past their notAfter are closed, whatever the insertion order', async () => {
  let now = 1_000_000;
  const r = new Revalidator({ verify: () => undefined, log: silentLogger(), now: () => now });
  try {
    const sessions = Array.from({ length: 1000 }, (_, i) => new Stub(`s${i}`, now + ((i * 7919) % 1000) * 1000, [`serial${i}`]));
    for (const s of sessions) r.track(s);
    now += 500_000; // notAfter < now for i*7919 % 1000 < 500
    const closed = await r.sweepExpired();
    const expected = sessions.filter((s) => s.identity.notAfter < now);
    assert.equal(closed, expected.length);
    for (const s of sessions) assert.equal(s.closed, s.identity.notAfter < now, s.id);
    assert.equal(expected[0].closedWith?.code, 'bad_certificate');
    assert.equal(expected[0].closedWith?.reason, 'expired');
    assert.equal(await r.sweepExpired(), 0, 'nothing twice');
    assert.equal(r.size, 1000 - expected.length);
  } finally {
    r.stop();
  }
});

test('revocation: only sessions holding a revoked serial are re-validated (and closed when it fails)', async () => {
  const verified: string[] = [];
  const r = new Revalidator({
    verify: (path) => {
      const id = path[0].toString();
      verified.push(id);
      if (id !== 'collision') throw new SecureChatError('bad_certificate', undefined, { reason: 'revoked' });
    },
    log: silentLogger(),
  });
  try {
    const far = Date.now() + 3600_000;
    const a = new Stub('a', far, ['leafA', 'inter1']);
    const b = new Stub('b', far, ['leafB', 'inter1']);
    const c = new Stub('c', far, ['leafC', 'inter2']);
    // Same serial from another issuer: the full check keeps it.
    const d = new Stub('collision', far, ['leafA', 'inter3']);
    for (const s of [a, b, c, d]) r.track(s);
    assert.equal(await r.revoked(new Set(['leafA', 'nobody'])), 1);
    assert.deepEqual(verified.sort(), ['a', 'collision']);
    assert.equal(a.closedWith?.reason, 'revoked');
    assert.equal(b.closed || c.closed || d.closed, false);
    // Revoking the intermediate reaches every session under it.
    verified.length = 0;
    assert.equal(await r.revoked(['inter1']), 1, 'a is already gone: only b');
    assert.deepEqual(verified, ['b']);
    assert.equal(c.closed, false);
  } finally {
    r.stop();
  }
});

test('untracked sessions leave the heap (compaction) so reconnects do not grow it without bound', () => {
  const r = new Revalidator({ verify: () => undefined, log: silentLogger() });
  try {
    const far = Date.now() + 86_400_000;
    for (let i = 0; i < 10_000; i++) {
      const s = new Stub(`s${i}`, far + i, [`x${i}`]);
      r.track(s);
      r.untrack(s);
    }
    assert.equal(r.size, 0);
    assert.ok((r as unknown as { heap: unknown[] }).heap.length <= 130, 'heap compacted');
    assert.equal((r as unknown as { bySerial: Map<string, unknown> }).bySerial.size, 0);
  } finally {
    r.stop();
  }
});

test('the CRL monitor warns again at every check inside the last 48 h, and reports seconds to expiry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-crlmon-'));
  try {
    await ensureCertificates({ dir, users: [] });
    await writeCrl({ dir, nextUpdate: '5h' });
    const lines: string[] = [];
    const sink = new Writable({
      objectMode: true,
      write(info: { level: string; message: string }, _enc, next) {
        lines.push(`${info.level} ${info.message}`);
        next();
      },
    });
    const log = winston.createLogger({ transports: [new winston.transports.Stream({ stream: sink })] });
    const trust = TrustStore.fromPem(readFileSync(join(dir, 'root_ca.pem'), 'utf8'));
    // No caDir: the monitor may not re-sign, so it must keep warning.
    const monitor = new CrlMonitor({ file: join(dir, 'crl.pem'), trust, log, onLoaded: () => undefined, checkEveryMs: 30 });
    try {
      while (lines.filter((l) => /expires in 4 h/.test(l)).length < 3) await new Promise((r) => setTimeout(r, 10));
      assert.ok(lines.every((l) => !/re-signed it/.test(l)));
      const s = monitor.status();
      assert.ok(s.secondsToExpiry !== null && s.secondsToExpiry > 4 * 3600 && s.secondsToExpiry <= 5 * 3600);
      assert.equal(s.stale, true);
      assert.equal(s.expired, false);
    } finally {
      monitor.stop();
    }
    assert.deepEqual(crlStatus([]), { nextUpdate: null, secondsToExpiry: null, expired: false, stale: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
