import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBar, formatBytes, renderProgress } from '../../src/client/progress.js';

test('renders bytes, percent and rate', () => {
  const line = renderProgress({ label: 'a.bin', done: 1024 * 1024, total: 4 * 1024 * 1024, elapsedMs: 1000 }, 20);
  assert.equal(line, 'a.bin [#####---------------]  25%  1.0 MiB/4.0 MiB  1.0 MB/s');
});

test('unknown total shows bytes only; overshoot is clamped', () => {
  assert.equal(renderProgress({ label: 'x', done: 2048, elapsedMs: 0 }), 'x 2.0 KiB  0.0 MB/s');
  assert.match(renderProgress({ label: 'x', done: 10, total: 5, elapsedMs: 1 }, 4), /\[####\] 100%/);
});

test('formatBytes units', () => {
  assert.equal(formatBytes(12), '12 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(3 * 1024 * 1024), '3.0 MiB');
});

test('draws on a TTY only', () => {
  const out: string[] = [];
  const tty = { isTTY: true, write: (s: string) => out.push(s) > 0 };
  const bar = new ProgressBar('f', 100, tty);
  bar.update(100);
  bar.finish();
  assert.equal(out.length, 2);
  assert.ok(out[0].startsWith('\r\x1b[Kf [####################] 100%'), out[0]);
  assert.equal(out[1], '\r\x1b[K');

  const piped: string[] = [];
  const pipe = { isTTY: false, write: (s: string) => piped.push(s) > 0 };
  const quiet = new ProgressBar('f', 100, pipe);
  quiet.update(50);
  quiet.update(100);
  quiet.finish();
  assert.deepEqual(piped, []);
});
