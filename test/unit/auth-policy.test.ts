import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecureChatError } from '../../src/errors.js';
import { checkPasswordPolicy } from '../../src/auth/policy.js';

function reasonOf(password: string, username = 'alice'): string | undefined {
  try {
    checkPasswordPolicy(password, username);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof SecureChatError);
    assert.equal(err.code, 'weak_password');
    return err.reason;
  }
}

test('accepts a long, unusual password', () => {
  assert.equal(reasonOf('tulip-orbit-canyon-42'), undefined);
  assert.equal(reasonOf('ñandú—pájaro—7'), undefined);
});

test('refuses short, username-containing, common and repetitive passwords', () => {
  assert.equal(reasonOf('short1234'), 'too_short');
  assert.equal(reasonOf('Alice'), 'too_short');
  assert.equal(reasonOf('xxALICExx2024'), 'contains_username');
  assert.equal(reasonOf('alicealice1'), 'contains_username');
  assert.equal(reasonOf('Password123'), 'common');
  assert.equal(reasonOf('qwertyuiop'), 'common');
  assert.equal(reasonOf('aaaaaaaaaaaa'), 'repetitive');
  assert.equal(reasonOf('x'.repeat(1025)), 'too_long');
});

test('length counts characters, not UTF-16 units', () => {
  assert.equal(reasonOf('🔒🔒🔒🔒🔒🔑🔑🔑🔑'), 'too_short'); // 9 emoji = 18 code units
});
