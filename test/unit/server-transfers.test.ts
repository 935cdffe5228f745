import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { SecureChatError } from '../../src/errors.js';
import { MAX_FILE_NAME_BYTES, Upload, sanitizeFileName, transfersOf } from '../../src/server/transfers.js';

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

test('Upload takes chunks strictly in order and checks size and sha256 at the end', () => {
  const content = Buffer.from('0123456789');
  const sha = createHash('sha256').update(content).digest('hex');
  const up = new Upload(1, { kind: 'group', conversationId: 1, name: 'g' }, { name: 'n', size: 10, sha256: sha });
  assert.throws(() => up.append(4, content.subarray(4, 8), 4), code('bad_request'));
  assert.throws(() => up.append(0, content.subarray(0, 5), 4), code('bad_request'));
  assert.throws(() => up.append(0, Buffer.alloc(0), 4), code('bad_request'));
  up.append(0, content.subarray(0, 4), 4);
  up.append(4, content.subarray(4, 8), 4);
  assert.throws(() => up.append(8, Buffer.alloc(4), 4), code('file_too_large'));
  assert.equal(up.received, 8);
  assert.throws(() => up.verifiedContent(), (err: unknown) => code('checksum_mismatch')(err) && (err as SecureChatError).reason === 'size');
  up.append(8, content.subarray(8), 4);
  assert.ok(up.verifiedContent().equals(content));
  assert.throws(() => up.append(10, Buffer.from('x'), 4), code('bad_request'));

  const wrong = new Upload(1, { kind: 'group', conversationId: 1, name: 'g' }, { name: 'n', size: 10, sha256: '0'.repeat(64) });
  wrong.append(0, content, 10);
  assert.throws(() => wrong.verifiedContent(), (err: unknown) => code('checksum_mismatch')(err) && (err as SecureChatError).reason === 'sha256');
});

test('transfersOf: per session, bounded, owner-checked, cleared on close', () => {
  const session = new EventEmitter();
  const t = transfersOf(session);
  assert.equal(transfersOf(session), t);
  assert.notEqual(transfersOf(new EventEmitter()), t);
  const target = { kind: 'group', conversationId: 1, name: 'g' } as const;
  const file = { name: 'n', size: 1, sha256: '0'.repeat(64) };
  const a = t.open(7, target, file, 2);
  t.open(7, target, file, 2);
  assert.throws(() => t.open(7, target, file, 2), code('rate_limited'));
  assert.equal(t.get(a.id, 7), a);
  assert.throws(() => t.get(a.id, 8), code('not_found'));
  t.drop(a.id);
  assert.throws(() => t.get(a.id, 7), code('not_found'));
  const end = t.beginDownload(1);
  assert.throws(() => t.beginDownload(1), code('rate_limited'));
  end();
  end();
  t.beginDownload(1);
  session.emit('close');
  assert.equal(t.openUploads, 0);
});
