/** The validated-path cache of TrustStore (src/pki/path-cache.ts): hits, bounds, time windows, CRL reloads. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SecureChatError } from '../../src/errors.js';
import { PathCache } from '../../src/pki/path-cache.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { EKU_CLIENT, makeCrl, makeIntermediate, makeLeaf, makeRoot, serialOf, type Fixture } from '../helpers/pki-fixtures.js';

const DAY = 86_400_000;
let root: Fixture;
let inter: Fixture;
let alice: Fixture;
let bob: Fixture;
let shortLived: Fixture;

before(() => {
  root = makeRoot('CN=Cache Root');
  inter = makeIntermediate('CN=Cache Int', root);
  alice = makeLeaf('CN=alice', inter, { eku: [EKU_CLIENT] });
  bob = makeLeaf('CN=bob', inter, { eku: [EKU_CLIENT] });
  shortLived = makeLeaf('CN=carol', inter, { eku: [EKU_CLIENT], notAfter: new Date(Date.now() + 3_600_000) });
});

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SecureChatError, String(err));
    return err.reason;
  }
  assert.fail('expected a rejection');
}

test('a chain validated once is answered from the cache with the same path; failures are not cached', () => {
  const store = new TrustStore({ roots: [root.cert] });
  const first = store.verifyDer([alice.der, inter.der], { purpose: 'client' });
  assert.equal(store.cachedPaths, 1);
  const second = store.verifyDer([Buffer.from(alice.der), Buffer.from(inter.der)], { purpose: 'client' });
  assert.deepEqual(
    second.map((c) => c.subject),
    first.map((c) => c.subject),
  );
  assert.equal(store.cachedPaths, 1);
  // Another purpose is another question (and fails: no serverAuth EKU), and is not stored.
  assert.equal(reasonOf(() => store.verifyDer([alice.der, inter.der], { purpose: 'server', hostname: 'alice' })), 'wrong_purpose');
  assert.equal(store.cachedPaths, 1);
  // A chain missing its intermediate is untrusted however often it is sent.
  assert.equal(reasonOf(() => store.verifyDer([bob.der], { purpose: 'client' })), 'untrusted');
  assert.equal(reasonOf(() => store.verifyDer([bob.der], { purpose: 'client' })), 'untrusted');
  assert.equal(store.cachedPaths, 1);
});

test('a CRL reload applies to the very next handshake of a cached chain', () => {
  const store = new TrustStore({ roots: [root.cert], crls: [makeCrl(inter).crl] });
  store.verifyDer([alice.der, inter.der], { purpose: 'client' });
  assert.equal(store.cachedPaths, 1);
  store.setCrls([makeCrl(inter, { revoked: [serialOf(alice)] }).crl]);
  assert.equal(store.cachedPaths, 0);
  assert.equal(reasonOf(() => store.verifyDer([alice.der, inter.der], { purpose: 'client' })), 'revoked');
});

test('an explicit validation time bypasses the cache', () => {
  const store = new TrustStore({ roots: [root.cert] });
  store.verifyDer([shortLived.der, inter.der], { purpose: 'client' });
  assert.equal(reasonOf(() => store.verifyDer([shortLived.der, inter.der], { purpose: 'client', time: new Date(Date.now() + DAY) })), 'expired');
});

test('entries are used only inside every certificate validity and the CRL window, and the cache is bounded (LRU)', () => {
  const store = new TrustStore({ roots: [root.cert] });
  const path = store.verifyDer([shortLived.der, inter.der], { purpose: 'client' });
  const cache = new PathCache(2);
  const now = Date.now();
  cache.set('a', path, { from: now - 1000, until: now + 30_000 });
  assert.ok(cache.get('a', now));
  assert.equal(cache.get('a', now + 30_000), undefined, 'past the CRL nextUpdate');
  cache.set('a', path, null);
  assert.ok(cache.get('a', now + 59_000));
  assert.equal(cache.get('a', shortLived.cert.notAfter.getTime() + 1), undefined, 'past the leaf notAfter');
  cache.set('a', path, null);
  assert.equal(cache.get('a', shortLived.cert.notBefore.getTime() - 1), undefined, 'before notBefore (a clock set back)');
  cache.set('a', path, null);
  cache.set('b', path, null);
  assert.ok(cache.get('a', now)); // a is now the most recently used
  cache.set('c', path, null);
  assert.equal(cache.size, 2);
  assert.equal(cache.get('b', now), undefined, 'the least recently used entry went');
  assert.ok(cache.get('a', now) && cache.get('c', now));
});
