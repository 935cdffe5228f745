import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CATALOGUE, SecureChatError, isErrorCode, toSecureChatError } from '../../src/errors.js';
import { CERT_FAILURE_REASONS } from '../../src/pki/reasons.js';

test('every error code is documented in docs/ERRORS.md and vice versa', () => {
  const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
  const codesTable = doc.slice(0, doc.indexOf('## Certificate failure reasons'));
  const documented = new Set([...codesTable.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));
  const codes = new Set(Object.keys(ERROR_CATALOGUE));
  assert.deepEqual([...codes].filter((c) => !documented.has(c)), [], 'codes missing from docs/ERRORS.md');
  assert.deepEqual([...documented].filter((c) => !codes.has(c)), [], 'docs/ERRORS.md lists unknown codes');
});

test('codes are snake_case and messages are non-empty sentences', () => {
  for (const [code, spec] of Object.entries(ERROR_CATALOGUE)) {
    assert.match(code, /^[a-z][a-z_]*$/);
    assert.ok(spec.message.length > 5 && spec.message.endsWith('.'), code);
  }
});

test('SecureChatError carries code, reason and exit code; toJSON hides the cause', () => {
  const err = new SecureChatError('bad_certificate', undefined, { reason: 'expired', cause: new Error('secret detail') });
  assert.equal(err.code, 'bad_certificate');
  assert.equal(err.exitCode, 1);
  assert.deepEqual(err.toJSON(), { code: 'bad_certificate', message: 'Certificate validation failed.', reason: 'expired' });
  assert.equal(new SecureChatError('usage').exitCode, 2);
  assert.equal(toSecureChatError(new Error('x')).code, 'internal');
  assert.ok(isErrorCode('replay'));
  assert.ok(!isErrorCode('toString'));
});

test('every certificate failure reason is documented in docs/ERRORS.md', () => {
  const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Certificate failure reasons'));
  const missing = [...CERT_FAILURE_REASONS, 'key_mismatch'].filter((r) => !section.includes(`\`${r}\``));
  assert.deepEqual(missing, []);
});
