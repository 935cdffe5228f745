import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, envName, readConfigFile, resolveConfig } from '../../src/config.js';
import { SecureChatError } from '../../src/errors.js';

const EXAMPLE = new URL('../../docs/securechat.config.example.jsonc', import.meta.url);

test('the example config documents every key, with a comment, and its values are the defaults', () => {
  const text = readFileSync(EXAMPLE, 'utf8');
  const example = readConfigFile(EXAMPLE.pathname);
  assert.deepEqual(example, DEFAULT_CONFIG);
  const lines = text.split('\n');
  for (const key of Object.keys(DEFAULT_CONFIG)) {
    const at = lines.findIndex((l) => l.trim().startsWith(`"${key}"`));
    assert.ok(at > 0, `${key} missing from the example`);
    assert.match(lines[at - 1], /^\s*\/\//, `${key} has no comment above it`);
  }
});

test('precedence: defaults < file < environment < flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-config-'));
  const file = join(dir, 'c.jsonc');
  writeFileSync(file, '// test\n{ "port": 6000, "host": "0.0.0.0", "maxFileBytes": 100 }');
  const config = resolveConfig({ file, env: { SECURECHAT_PORT: '7000', SECURECHAT_DB: 'sqlite:/tmp/x.db' }, flags: { port: '8000', certs: undefined } });
  assert.equal(config.port, 8000);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.maxFileBytes, 100);
  assert.equal(config.db, 'sqlite:/tmp/x.db');
  assert.equal(config.certs, 'certs');
  assert.equal(envName('maxFrameBytes'), 'SECURECHAT_MAX_FRAME_BYTES');
});

test('bad values are usage errors naming the key and the source', () => {
  const usage = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (err: SecureChatError) => err.code === 'usage' && pattern.test(err.message));
  usage(() => resolveConfig({ flags: { port: 'eighty' } }), /command line: "port"/);
  usage(() => resolveConfig({ flags: { port: '70000' } }), /port must be/);
  usage(() => resolveConfig({ env: { SECURECHAT_AUTO_GENERATE_CERTS: 'maybe' } }), /SECURECHAT_AUTO_GENERATE_CERTS/);
  usage(() => resolveConfig({ flags: { colour: 'blue' } }), /unknown key "colour"/);
  const dir = mkdtempSync(join(tmpdir(), 'securechat-config-'));
  writeFileSync(join(dir, 'bad.json'), '{ nope');
  assert.throws(() => readConfigFile(join(dir, 'bad.json')), (err: SecureChatError) => err.code === 'bad_input');
  assert.throws(() => readConfigFile(join(dir, 'missing.json')), (err: SecureChatError) => err.code === 'io_error');
});
