import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { candidateName, placeDownload, sanitizeFileName } from '../../src/client/downloads.js';
import { SeenIds } from '../../src/client/seen-ids.js';

test('sanitizeFileName keeps only a safe basename', () => {
  assert.equal(sanitizeFileName('report.pdf'), 'report.pdf');
  assert.equal(sanitizeFileName('../../etc/passwd'), 'passwd');
  assert.equal(sanitizeFileName('..\\..\\windows\\evil.bat'), 'evil.bat');
  assert.equal(sanitizeFileName('.bashrc'), 'bashrc');
  assert.equal(sanitizeFileName('...'), 'file');
  assert.equal(sanitizeFileName('..'), 'file');
  assert.equal(sanitizeFileName(''), 'file');
  assert.equal(sanitizeFileName('a\u0000b\nc\x1b[31m.txt'), 'abc[31m.txt');
  assert.equal(sanitizeFileName('invoice\u202Etxt.exe'), 'invoicetxt.exe');
  assert.equal(sanitizeFileName('a:b*c?.txt'), 'a_b_c_.txt');
  assert.equal(sanitizeFileName('trailing. '), 'trailing');
  const long = sanitizeFileName('x'.repeat(500) + '.txt');
  assert.ok(Buffer.byteLength(long) <= 200);
  assert.ok(long.endsWith('.txt'));
});

test('candidateName numbers before the extension', () => {
  assert.equal(candidateName('a.txt', 0), 'a.txt');
  assert.equal(candidateName('a.txt', 1), 'a (1).txt');
  assert.equal(candidateName('archive.tar.gz', 2), 'archive.tar (2).gz');
  assert.equal(candidateName('README', 3), 'README (3)');
});

test('placeDownload never overwrites: collisions become "name (n).ext"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sc-dl-'));
  try {
    writeFileSync(join(dir, 'a.txt'), 'existing');
    const tmp1 = join(dir, '.t1.part');
    writeFileSync(tmp1, 'one');
    const p1 = placeDownload(tmp1, dir, '../a.txt');
    assert.equal(p1, join(dir, 'a (1).txt'));
    const tmp2 = join(dir, '.t2.part');
    writeFileSync(tmp2, 'two');
    const p2 = placeDownload(tmp2, dir, 'a.txt');
    assert.equal(p2, join(dir, 'a (2).txt'));
    assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'existing');
    assert.equal(readFileSync(p1, 'utf8'), 'one');
    assert.equal(readFileSync(p2, 'utf8'), 'two');
    assert.deepEqual(readdirSync(dir).sort(), ['a (1).txt', 'a (2).txt', 'a.txt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SeenIds drops duplicates and forgets the oldest beyond capacity', () => {
  const seen = new SeenIds(3);
  assert.equal(seen.add(1), true);
  assert.equal(seen.add(1), false);
  seen.add(2);
  seen.add(3);
  seen.add(4);
  assert.equal(seen.size, 3);
  assert.equal(seen.has(1), false);
  assert.equal(seen.add(4), false);
  assert.equal(seen.add(1), true);
});
