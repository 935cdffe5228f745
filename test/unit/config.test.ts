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
  // The recent-files cache is RAM: 0 turns it off, more than 8 GiB is refused as a likely typo.
  usage(() => resolveConfig({ env: { SECURECHAT_RECENT_FILES_BYTES: String(9 * 1024 ** 3) } }), /SECURECHAT_RECENT_FILES_BYTES: "recentFilesBytes" must be at most 8589934592/);
  usage(() => resolveConfig({ flags: { recentFilesBytes: -1 } }), /"recentFilesBytes" must be a non-negative integer/);
  assert.equal(resolveConfig({ flags: { recentFilesBytes: 0 } }).recentFilesBytes, 0);
  assert.equal(resolveConfig({}).recentFilesBytes, 64 * 1024 * 1024);
  // A send queue smaller than a socket buffer would never see a 'drain' end its backlog.
  usage(() => resolveConfig({ env: { SECURECHAT_MAX_SEND_QUEUE_BYTES: '8192' } }), /"maxSendQueueBytes" must be at least 65536/);
  assert.equal(resolveConfig({ flags: { maxSendQueueBytes: 65536 } }).maxSendQueueBytes, 65536);
  const dir = mkdtempSync(join(tmpdir(), 'securechat-config-'));
  writeFileSync(join(dir, 'bad.json'), '{ nope');
  assert.throws(() => readConfigFile(join(dir, 'bad.json')), (err: SecureChatError) => err.code === 'bad_input');
  assert.throws(() => readConfigFile(join(dir, 'missing.json')), (err: SecureChatError) => err.code === 'io_error');
});

test('JSONC: inline // comments, /* */ blocks and trailing commas are accepted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-config-'));
  const file = join(dir, 'c.jsonc');
  writeFileSync(file, '{\n  "port": 6000, // the chat port\n  /* a block\n     comment */ "host": "0.0.0.0",\n  "adminPort": 9090,\n}\n');
  assert.deepEqual(readConfigFile(file), { port: 6000, host: '0.0.0.0', adminPort: 9090 });
});

test('a config syntax error names the file, line and column', () => {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-config-'));
  const file = join(dir, 'bad.jsonc');
  writeFileSync(file, '{\n  "port": 6000\n  "host": "x"\n}\n');
  assert.throws(
    () => readConfigFile(file),
    (err: SecureChatError) => err.code === 'bad_input' && err.message.includes(`${file}:3:3: comma expected`) && err.details?.line === 3 && err.details?.column === 3,
  );
  writeFileSync(file, '{ "port": 6000 /* never closed');
  assert.throws(() => readConfigFile(file), (err: SecureChatError) => /:1:16: unexpected end of comment/.test(err.message));
});

test('logLevel and logFormat take only their words; adminPort is a port or off', () => {
  const usage = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (err: SecureChatError) => err.code === 'usage' && pattern.test(err.message));
  usage(() => resolveConfig({ flags: { logLevel: 'bogus' } }), /"logLevel" must be one of error, warn, info, debug, got "bogus"/);
  usage(() => resolveConfig({ env: { SECURECHAT_LOG_LEVEL: 'verbose' } }), /SECURECHAT_LOG_LEVEL/);
  usage(() => resolveConfig({ flags: { logFormat: 'xml' } }), /"logFormat" must be one of auto, json, text/);
  usage(() => resolveConfig({ flags: { adminPort: '70000' } }), /"adminPort" must be a port 0..65535 or "off"/);
  usage(() => resolveConfig({ flags: { adminPort: '-1' } }), /"adminPort"/);
  assert.equal(resolveConfig({}).adminPort, null);
  assert.equal(resolveConfig({ flags: { adminPort: '0' } }).adminPort, 0);
  assert.equal(resolveConfig({ env: { SECURECHAT_ADMIN_PORT: '9090' } }).adminPort, 9090);
  assert.equal(resolveConfig({ env: { SECURECHAT_ADMIN_PORT: '9090' }, flags: { adminPort: 'off' } }).adminPort, null);
  assert.equal(resolveConfig({ flags: { logLevel: 'debug', logFormat: 'json' } }).logFormat, 'json');
});

test('*_FILE: every key can come from a file (Docker secrets); the DB password can stay out of the URL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-config-'));
  const urlFile = join(dir, 'db_url');
  writeFileSync(urlFile, 'mysql://chat:s3cret@db:3306/securechat\n');
  assert.equal(resolveConfig({ env: { SECURECHAT_DB_FILE: urlFile } }).db, 'mysql://chat:s3cret@db:3306/securechat');
  const pwFile = join(dir, 'db_password');
  writeFileSync(pwFile, 'p@ss:w/rd\n');
  const config = resolveConfig({ env: { SECURECHAT_DB: 'mysql://chat@db:3306/securechat', SECURECHAT_DB_PASSWORD_FILE: pwFile } });
  assert.equal(new URL(config.db).password, encodeURIComponent('p@ss:w/rd'));
  assert.equal(decodeURIComponent(new URL(config.db).password), 'p@ss:w/rd');
  const usage = (env: NodeJS.ProcessEnv, pattern: RegExp) =>
    assert.throws(() => resolveConfig({ env }), (err: SecureChatError) => pattern.test(err.message) && !err.message.includes('s3cret'));
  usage({ SECURECHAT_DB: 'sqlite:x.db', SECURECHAT_DB_FILE: urlFile }, /SECURECHAT_DB or SECURECHAT_DB_FILE, not both/);
  usage({ SECURECHAT_DB_FILE: urlFile, SECURECHAT_DB_PASSWORD: 'x' }, /already has a password/);
  usage({ SECURECHAT_DB_PASSWORD: 'x' }, /needs a mysql:\/\/ database URL/);
  usage({ SECURECHAT_DB_FILE: join(dir, 'missing') }, /SECURECHAT_DB_FILE: cannot read .*missing: ENOENT/);
});
