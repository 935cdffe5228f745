/** src/log.ts: console format and colour choice, pid and hostname on every JSON line, levels validated. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleStyle, createLogger } from '../../src/log.js';

test('console style: JSON unless a terminal (auto); colour only on a terminal and never with NO_COLOR', () => {
  assert.deepEqual(consoleStyle('auto', false, {}), { json: true, color: false });
  assert.deepEqual(consoleStyle('auto', true, {}), { json: false, color: true });
  assert.deepEqual(consoleStyle('auto', true, { NO_COLOR: '1' }), { json: false, color: false });
  assert.deepEqual(consoleStyle('auto', true, { NO_COLOR: '' }), { json: false, color: true }, 'an empty NO_COLOR does not count (no-color.org)');
  assert.deepEqual(consoleStyle('text', false, {}), { json: false, color: false });
  assert.deepEqual(consoleStyle('json', true, {}), { json: true, color: false });
});

test('every JSON line carries pid, hostname, timestamp; secrets are redacted', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'securechat-log-')), 'x.log');
  const log = createLogger({ console: false, file, level: 'debug' });
  log.child({ component: 'test' }).debug('hello', { password: 'hunter2', n: 1 });
  await new Promise<void>((resolve) => log.on('finish', resolve).end());
  const entry = JSON.parse(readFileSync(file, 'utf8').trim()) as Record<string, unknown>;
  assert.equal(entry.pid, process.pid);
  assert.equal(entry.hostname, hostname());
  assert.equal(entry.component, 'test');
  assert.equal(entry.password, '[redacted]');
  assert.equal(entry.n, 1);
  assert.match(String(entry.timestamp), /^\d{4}-\d\d-\d\dT/);
});

test('an unknown level is refused instead of silently logging nothing', () => {
  assert.throws(() => createLogger({ console: false, level: 'bogus' }), /Unknown log level "bogus"/);
  assert.throws(() => createLogger({ console: false, env: { SECURECHAT_LOG_LEVEL: 'loud' } }), /"loud"/);
});
