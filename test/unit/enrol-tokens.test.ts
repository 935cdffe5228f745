/** Enrolment tokens (pki/enrol-tokens.ts), the CA lock (pki/ca-lock.ts) and the bounded per-address rate (server/keyed-rate.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa } from '../../src/pki/ca.js';
import { LOCK_FILE, withCaLock } from '../../src/pki/ca-lock.js';
import {
  checkEnrolToken, createEnrolToken, listEnrolTokens, MAX_OPEN_TOKENS, MAX_TOKEN_TEXT, revokeEnrolToken, spendEnrolToken, tokenIdOf, TOKEN_FILE, TOKEN_RETENTION_MS,
} from '../../src/pki/enrol-tokens.js';
import { KeyedRateLimiter } from '../../src/server/keyed-rate.js';

async function withCa(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'sc-tokens-'));
  const dir = join(base, 'ca');
  await initCa({ dir, unencrypted: true });
  try {
    await fn(dir);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

test('a token is printed once and stored only as a SHA-256, in a 0600 file', async () => {
  await withCa((dir) => {
    const t = createEnrolToken({ dir, name: 'alice' });
    assert.match(t.token, /^sct1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(tokenIdOf(t.token), t.id);
    const file = readFileSync(join(dir, TOKEN_FILE), 'utf8');
    assert.ok(!file.includes(t.token.split('.')[2]));
    assert.equal(statSync(join(dir, TOKEN_FILE)).mode & 0o777, 0o600);
    assert.deepEqual(checkEnrolToken(dir, t.token), { id: t.id, name: 'alice', certValidity: '90d' });
    assert.deepEqual(listEnrolTokens(dir).map((x) => [x.name, x.status]), [['alice', 'valid']]);
    assert.ok(!('sha256' in listEnrolTokens(dir)[0]));
  });
});

test('checks: unknown, mangled, over-long, expired, revoked, used', async () => {
  await withCa((dir) => {
    const now = new Date();
    const t = createEnrolToken({ dir, name: 'bob', ttl: '30m', now });
    assert.equal(codeOf(() => checkEnrolToken(dir, t.token.slice(0, -1) + (t.token.endsWith('x') ? 'y' : 'x'))), 'enrol_token_invalid');
    assert.equal(codeOf(() => checkEnrolToken(dir, `sct1.${'f'.repeat(16)}.${'A'.repeat(43)}`)), 'enrol_token_invalid');
    assert.equal(codeOf(() => checkEnrolToken(dir, t.token + 'A'.repeat(MAX_TOKEN_TEXT))), 'enrol_token_invalid');
    assert.equal(codeOf(() => checkEnrolToken(dir, t.token, new Date(now.getTime() + 31 * 60_000))), 'enrol_token_expired');

    const r = createEnrolToken({ dir, name: 'carol' });
    assert.equal(revokeEnrolToken(dir, r.id).status, 'revoked');
    assert.equal(codeOf(() => checkEnrolToken(dir, r.token)), 'enrol_token_invalid');
    assert.equal(codeOf(() => revokeEnrolToken(dir, r.id)), 'exists');
    assert.equal(codeOf(() => revokeEnrolToken(dir, '0123456789abcdef')), 'not_found');

    spendEnrolToken(dir, t.token, () => ({ serial: 'abcd' }));
    assert.equal(codeOf(() => checkEnrolToken(dir, t.token)), 'enrol_token_used');
    assert.equal(codeOf(() => spendEnrolToken(dir, t.token, () => ({ serial: 'ef01' }))), 'enrol_token_used');
    const listed = listEnrolTokens(dir).find((x) => x.id === t.id);
    assert.equal(listed?.status, 'used');
    assert.equal(listed?.serial, 'abcd');
  });
});

test('a failure while recording gives the token back', async () => {
  await withCa((dir) => {
    const t = createEnrolToken({ dir, name: 'dave' });
    assert.throws(() => spendEnrolToken(dir, t.token, () => {
      throw new Error('disk full');
    }), /disk full/);
    assert.equal(checkEnrolToken(dir, t.token).name, 'dave');
  });
});

test('arguments: username syntax, --ttl a positive duration of at most 7d, a certificate validity in the future', async () => {
  await withCa((dir) => {
    assert.equal(codeOf(() => createEnrolToken({ dir, name: 'bad name' })), 'usage');
    assert.equal(codeOf(() => createEnrolToken({ dir, name: 'eve', ttl: '8d' })), 'usage');
    assert.equal(codeOf(() => createEnrolToken({ dir, name: 'eve', ttl: '2026-01-01' })), 'usage');
    assert.equal(codeOf(() => createEnrolToken({ dir, name: 'eve', certValidity: '2000-01-01' })), 'usage');
    assert.equal(codeOf(() => createEnrolToken({ dir: join(dir, 'nowhere'), name: 'eve' })), 'ca_missing');
  });
});

test('ended tokens are pruned after the retention period; open ones never', async () => {
  await withCa((dir) => {
    const start = new Date();
    const spent = createEnrolToken({ dir, name: 'old', now: start });
    spendEnrolToken(dir, spent.token, () => ({ serial: '01' }), start);
    createEnrolToken({ dir, name: 'expiring', ttl: '1h', now: start });
    const later = new Date(start.getTime() + TOKEN_RETENTION_MS + 2 * 3600_000);
    createEnrolToken({ dir, name: 'fresh', now: later });
    assert.deepEqual(listEnrolTokens(dir, later).map((t) => t.name), ['fresh']);
  });
});

test(`at most ${MAX_OPEN_TOKENS} open tokens per CA directory`, async () => {
  await withCa((dir) => {
    for (let i = 0; i < MAX_OPEN_TOKENS; i++) createEnrolToken({ dir, name: `u${i}` });
    assert.equal(codeOf(() => createEnrolToken({ dir, name: 'one-too-many' })), 'usage');
    revokeEnrolToken(dir, listEnrolTokens(dir)[0].id);
    assert.equal(createEnrolToken({ dir, name: 'room-again' }).status, 'valid');
  });
});

test('the CA lock: a lock left by a dead process is broken; one held by a live process times out with io_error', async () => {
  await withCa((dir) => {
    writeFileSync(join(dir, LOCK_FILE), '999999999');
    assert.equal(withCaLock(dir, () => 'ran'), 'ran');
    writeFileSync(join(dir, LOCK_FILE), String(process.ppid));
    assert.equal(codeOf(() => withCaLock(dir, () => 'ran', 50)), 'io_error');
    rmSync(join(dir, LOCK_FILE));
    // Re-entrant inside one process (sections are synchronous).
    assert.equal(withCaLock(dir, () => withCaLock(dir, () => 'nested')), 'nested');
  });
});

test('keyed rate: per key, global, and at most maxKeys remembered', () => {
  let now = 0;
  const rate = new KeyedRateLimiter({ perKeyPerMinute: 2, globalPerMinute: 5, maxKeys: 3 }, () => now);
  assert.ok(rate.take('a').ok);
  assert.ok(rate.take('a').ok);
  const refused = rate.take('a');
  assert.equal(refused.ok, false);
  assert.ok(!refused.ok && refused.retryAfterMs > 0 && refused.retryAfterMs <= 30_000);
  assert.ok(rate.take('b').ok);
  assert.ok(rate.take('c').ok);
  assert.ok(rate.take('d').ok);
  assert.equal(rate.take('e').ok, false, 'global bucket empty');
  assert.equal(rate.trackedKeys, 3);
  now += 60_000;
  assert.ok(rate.take('a').ok, 'refilled');
});
