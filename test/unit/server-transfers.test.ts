import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { after, test } from 'node:test';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatError } from '../../src/errors.js';
import { MAX_FILE_NAME_BYTES, Upload, sanitizeFileName, transfersOf } from '../../src/server/transfers.js';
import { UploadSpool } from '../../src/server/upload-spool.js';

const code = (c: string) => (err: unknown) => err instanceof SecureChatError && err.code === c;

test('sanitizeFileName keeps the base name and drops what could mislead or escape', () => {
  assert.equal(sanitizeFileName('report.pdf'), 'report.pdf');
  assert.equal(sanitizeFileName('../../etc/passwd'), 'passwd');
  assert.equal(sanitizeFileName('C:\\Users\\me\\notes.txt'), 'notes.txt');
  assert.equal(sanitizeFileName('  spaced out.txt  '), 'spaced out.txt');
  assert.equal(sanitizeFileName('tab\there\u0000.txt'), 'tabhere.txt');
  assert.equal(sanitizeFileName('evil\u202Etxt.exe'), 'eviltxt.exe');
  assert.equal(sanitizeFileName('lone\uD800.txt'), 'lone.txt');
  assert.equal(sanitizeFileName('cafe\u0301.txt'), 'café.txt');
  assert.equal(sanitizeFileName('日本語 ✓.md'), '日本語 ✓.md');
  assert.equal(sanitizeFileName('.hidden'), '.hidden');
  for (const bad of ['', ' ', '.', '..', '/', 'dir/', 'a/..', '\u0000\u0007', '\u202E']) {
    assert.throws(() => sanitizeFileName(bad), code('bad_request'), JSON.stringify(bad));
  }
  assert.equal(sanitizeFileName('a'.repeat(MAX_FILE_NAME_BYTES)).length, MAX_FILE_NAME_BYTES);
  assert.throws(() => sanitizeFileName('é'.repeat(128)), code('bad_request'));
});

const spool = new UploadSpool(mkdtempSync(join(tmpdir(), 'securechat-spool-test-')), { maxSpoolBytesPerSession: 100, maxSpoolBytesPerUser: 150, maxSpoolBytes: 200 });
after(() => spool.close());

test('Upload takes chunks strictly in order, spools them to a 0600 file, and checks size and sha256 at the end', async () => {
  const content = Buffer.from('0123456789');
  const sha = createHash('sha256').update(content).digest('hex');
  const file = spool.reserve('s1', 1, 10);
  const up = new Upload(1, { kind: 'group', conversationId: 1, name: 'g' }, { name: 'n', size: 10, sha256: sha }, file);
  assert.throws(() => up.append(4, content.subarray(4, 8), 4), code('bad_request'));
  assert.throws(() => up.append(0, content.subarray(0, 5), 4), code('bad_request'));
  assert.throws(() => up.append(0, Buffer.alloc(0), 4), code('bad_request'));
  await up.append(0, content.subarray(0, 4), 4);
  await up.append(4, content.subarray(4, 8), 4);
  assert.equal(statSync(file.path).mode & 0o777, 0o600, 'the spool file is private');
  assert.equal(statSync(spool.dir).mode & 0o777, 0o700, 'the spool directory is private');
  assert.throws(() => up.append(8, Buffer.alloc(4), 4), code('file_too_large'));
  assert.equal(up.received, 8);
  await assert.rejects(up.verifiedContent(), (err: unknown) => code('checksum_mismatch')(err) && (err as SecureChatError).reason === 'size');
  await up.append(8, content.subarray(8), 4);
  assert.ok((await up.verifiedContent()).equals(content));
  assert.throws(() => up.append(10, Buffer.from('x'), 4), code('bad_request'));
  assert.equal(spool.reservedByUser(1), 10);
  up.dispose();
  assert.equal(spool.reservedByUser(1), 0, 'disposing gives the reservation back');
  await waitUntil(() => !existsSync(file.path));

  const wrong = new Upload(1, { kind: 'group', conversationId: 1, name: 'g' }, { name: 'n', size: 10, sha256: '0'.repeat(64) }, spool.reserve('s1', 1, 10));
  await wrong.append(0, content, 10);
  await assert.rejects(wrong.verifiedContent(), (err: unknown) => code('checksum_mismatch')(err) && (err as SecureChatError).reason === 'sha256');
  wrong.dispose();
});

test('UploadSpool budgets: per session, per user, server-wide', () => {
  const a = spool.reserve('s1', 1, 100);
  assert.throws(() => spool.reserve('s1', 1, 1), (e: unknown) => code('rate_limited')(e) && (e as SecureChatError).reason === 'spool_session');
  const b = spool.reserve('s2', 1, 50);
  assert.throws(() => spool.reserve('s3', 1, 1), (e: unknown) => code('rate_limited')(e) && (e as SecureChatError).reason === 'spool_user');
  const c = spool.reserve('s4', 2, 50);
  assert.throws(() => spool.reserve('s5', 3, 1), code('busy'));
  for (const f of [a, b, c]) f.dispose();
  assert.equal(spool.reserved, 0);
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}

test('transfersOf: per session, bounded, owner-checked, idle uploads dropped, cleared on close', async () => {
  const session = new EventEmitter();
  const t = transfersOf(session);
  assert.equal(transfersOf(session), t);
  assert.notEqual(transfersOf(new EventEmitter()), t);
  const target = { kind: 'group', conversationId: 1, name: 'g' } as const;
  const file = { name: 'n', size: 1, sha256: '0'.repeat(64) };
  const a = t.open(7, target, file, 2, spool.reserve('t', 7, 1), 60_000);
  t.open(7, target, file, 2, spool.reserve('t', 7, 1), 60_000);
  assert.throws(() => t.open(7, target, file, 2, spool.reserve('t', 7, 1), 60_000), code('rate_limited'));
  assert.equal(spool.reservedByUser(7), 2, 'a refused open gives its reservation back');
  assert.equal(t.get(a.id, 7), a);
  assert.throws(() => t.get(a.id, 8), code('not_found'));
  t.drop(a.id);
  assert.throws(() => t.get(a.id, 7), code('not_found'));
  const idle = t.open(7, target, file, 2, spool.reserve('t', 7, 1), 20);
  await waitUntil(() => t.openUploads === 1);
  assert.throws(() => t.get(idle.id, 7), code('not_found'));
  const end = t.beginDownload(1);
  assert.throws(() => t.beginDownload(1), code('rate_limited'));
  end();
  end();
  t.beginDownload(1);
  session.emit('close');
  assert.equal(t.openUploads, 0);
  assert.equal(spool.reservedByUser(7), 0);
});
