import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashParams, hashPassword, needsRehash, verifyPassword } from '../../src/auth/password.js';

const FAST = { N: 1024, r: 8, p: 1 };

test('hash is self-describing, salted, and verifies', async () => {
  const h1 = await hashPassword('correct horse battery', FAST);
  const h2 = await hashPassword('correct horse battery', FAST);
  assert.match(h1, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(h1, h2, 'per-user random salt');
  assert.equal(Buffer.from(h1.split('$')[4], 'base64').length, 16);
  assert.deepEqual(hashParams(h1), FAST);
  assert.equal(await verifyPassword('correct horse battery', h1), true);
  assert.equal(await verifyPassword('correct horse batterY', h1), false);
  assert.equal(await verifyPassword('', h1), false);
});

test('malformed stored hashes never verify and always need a rehash', async () => {
  for (const bad of ['', 'scrypt$1$2', 'bcrypt$1024$8$1$AAAA$AAAA', 'scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==']) {
    assert.equal(await verifyPassword('whatever password', bad), false, bad);
    assert.equal(needsRehash(bad), true);
  }
});

test('needsRehash when parameters were raised, not when equal or higher', async () => {
  const h = await hashPassword('some long password', FAST);
  assert.equal(needsRehash(h, FAST), false);
  assert.equal(needsRehash(h, { N: 2048, r: 8, p: 1 }), true);
  assert.equal(needsRehash(h, { N: 1024, r: 8, p: 2 }), true);
  assert.equal(needsRehash(h, { N: 512, r: 8, p: 1 }), false);
});
