/**
 * The cluster contract: memory, Redis and NATS backends must all pass it unchanged. A fixture opens
 * connections that share one namespace — two of them are two nodes of one cluster.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SecureChatError } from '../../src/errors.js';
import type { BusMessage, ClusterBackend, PresenceEntry } from '../../src/server/cluster/types.js';

export interface ClusterFixture {
  /** A new connection to the shared test namespace. */
  open(): Promise<ClusterBackend>;
  dispose(): Promise<void>;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function entry(node: string, session: string, userId = 1): PresenceEntry {
  return { node, session, userId, uuid: `uuid-${userId}`, username: `user${userId}`, ip: '10.0.0.1' };
}

export function runClusterContract(name: string, makeFixture: () => Promise<ClusterFixture>, opts: { skip?: string | false } = {}): void {
  // A hung backend call fails its test instead of stalling the whole run.
  describe(`cluster contract: ${name}`, { skip: opts.skip ?? false, timeout: 30_000 }, () => {
    let fixture: ClusterFixture;
    let a: ClusterBackend;
    let b: ClusterBackend;
    before(async () => {
      fixture = await makeFixture();
      a = await fixture.open();
      b = await fixture.open();
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await fixture?.dispose();
    });

    test('bus: a message published on one node reaches the subscribers of every node, in publish order', async () => {
      const gotA: BusMessage[] = [];
      const gotB: BusMessage[] = [];
      const offA = await a.bus.subscribe('t1', (m) => gotA.push(m));
      const offB = await b.bus.subscribe('t1', (m) => gotB.push(m));
      for (let i = 0; i < 20; i++) await a.bus.publish('t1', { i, text: `héllo ${i}` });
      await eventually('20 messages on both', async () => gotA.length === 20 && gotB.length === 20);
      assert.deepEqual(gotB.map((m) => m.i), [...Array(20).keys()]);
      assert.deepEqual(gotA, gotB);
      assert.equal(gotB[3].text, 'héllo 3');
      await offA();
      await offB();
    });

    test('bus: topics are separate and unsubscribing stops delivery', async () => {
      const one: BusMessage[] = [];
      const two: BusMessage[] = [];
      const off1 = await b.bus.subscribe('one', (m) => one.push(m));
      const off2 = await b.bus.subscribe('two', (m) => two.push(m));
      await a.bus.publish('one', { x: 1 });
      await eventually('message on topic one', async () => one.length === 1);
      await off1();
      await a.bus.publish('one', { x: 2 });
      await a.bus.publish('two', { marker: true });
      await eventually('marker on topic two', async () => two.length === 1);
      assert.deepEqual(one, [{ x: 1 }], 'no delivery after unsubscribe, none across topics');
      await off2();
    });

    test('bus: a handler that throws neither crashes nor stops the other subscribers', async () => {
      const got: BusMessage[] = [];
      const offBad = await b.bus.subscribe('bad', () => {
        throw new Error('handler bug');
      });
      const offGood = await b.bus.subscribe('bad', (m) => got.push(m));
      await a.bus.publish('bad', { ok: 1 });
      await eventually('the good handler ran', async () => got.length === 1);
      await offBad();
      await offGood();
    });

    test('presence: sessions of both nodes are listed; remove and clear take them away', async () => {
      await a.presence.put(entry('na', 's1', 1), 10_000);
      await a.presence.put(entry('na', 's2', 2), 10_000);
      await b.presence.put(entry('nb', 's3', 1), 10_000);
      const listed = await eventually('3 sessions', async () => {
        const l = (await b.presence.list()).filter((e) => e.node === 'na' || e.node === 'nb');
        return l.length === 3 ? l : undefined;
      });
      assert.deepEqual(listed.map((e) => e.session).sort(), ['s1', 's2', 's3']);
      assert.deepEqual(listed.find((e) => e.session === 's3'), entry('nb', 's3', 1));
      await a.presence.remove('na', 's1');
      await eventually('s1 gone', async () => !(await b.presence.list()).some((e) => e.session === 's1'));
      await b.presence.clear('nb');
      await eventually('nb cleared', async () => !(await a.presence.list()).some((e) => e.node === 'nb'));
      await a.presence.clear('na');
    });

    // Was a hang on NATS (kv.keys() under a concurrent lease rewrite); nats.ts lists keys with one STREAM.INFO now.
    test('presence: a node that stops refreshing drops out after its lease; one that refreshes stays', async () => {
      await a.presence.put(entry('alive', 'x1', 7), 1500);
      await b.presence.put(entry('dead', 'y1', 8), 1500);
      const refresher = setInterval(() => void a.presence.refresh('alive', 1500).catch(() => undefined), 300);
      try {
        await eventually('the dead node expired', async () => {
          const l = await a.presence.list();
          return !l.some((e) => e.node === 'dead') && l.some((e) => e.node === 'alive');
        });
        assert.ok((await b.presence.list()).some((e) => e.session === 'x1'));
      } finally {
        clearInterval(refresher);
        await a.presence.clear('alive');
      }
    });

    test('counters: incr counts across nodes, concurrently, and starts over after the TTL', async () => {
      assert.equal(await a.counters.get('c1'), 0);
      assert.equal(await a.counters.incr('c1', 60_000), 1);
      assert.equal(await b.counters.incr('c1', 60_000, 2), 3);
      await Promise.all([...Array(10)].map((_, i) => (i % 2 ? a : b).counters.incr('c1', 60_000)));
      assert.equal(await a.counters.get('c1'), 13);
      await b.counters.reset('c1');
      assert.equal(await a.counters.get('c1'), 0);
      assert.equal(await a.counters.incr('short', 2000), 1);
      // The TTL runs from the first increment: later increments do not extend it.
      assert.equal(await b.counters.incr('short', 2000), 2);
      await eventually('the counter expired', async () => (await b.counters.get('short')) === 0);
      assert.equal(await a.counters.incr('short', 2000), 1);
    });

    test('values: putIfAbsent has one winner cluster-wide, every node reads its value, and it expires', async () => {
      assert.equal(await a.values.get('v1'), null);
      const results = await Promise.all([...Array(6)].map((_, i) => (i % 2 ? a : b).values.putIfAbsent('v1', `value-${i}`, 60_000)));
      assert.equal(new Set(results).size, 1, 'every writer is told the one value stored');
      assert.equal(await a.values.get('v1'), results[0]);
      assert.equal(await b.values.get('v1'), results[0]);
      assert.equal(await b.values.putIfAbsent('v1', 'later', 60_000), results[0], 'a live value is never replaced');
      assert.equal(await a.values.putIfAbsent('short-v', 'x'.repeat(300), 1500), 'x'.repeat(300));
      await eventually('the value expired', async () => (await b.values.get('short-v')) === null);
      assert.equal(await b.values.putIfAbsent('short-v', 'again', 60_000), 'again');
    });

    test('set: addIfAbsent has exactly one winner cluster-wide, and the key is free again after its TTL', async () => {
      const results = await Promise.all([...Array(8)].map((_, i) => (i % 2 ? a : b).set.addIfAbsent('nonce-1', 60_000)));
      assert.equal(results.filter(Boolean).length, 1, 'one winner');
      assert.equal(await a.set.addIfAbsent('nonce-1', 60_000), false);
      assert.ok((await b.set.remainingMs('nonce-1')) > 50_000);
      assert.equal(await a.set.remainingMs('never-added'), 0);
      assert.equal(await a.set.addIfAbsent('brief', 300), true);
      await eventually('the key expired', async () => (await b.set.remainingMs('brief')) === 0);
      assert.equal(await b.set.addIfAbsent('brief', 300), true);
      await a.set.put('blk', 60_000);
      assert.ok((await b.set.remainingMs('blk')) > 50_000);
      await b.set.delete('blk');
      assert.equal(await a.set.remainingMs('blk'), 0);
      // Keys are opaque strings: any byte the callers use (NUL separators, base64) works.
      assert.equal(await a.set.addIfAbsent('pair\u0000alice\u0000::1/+=', 60_000), true);
      assert.equal(await b.set.addIfAbsent('pair\u0000alice\u0000::1/+=', 60_000), false);
    });

    test('a closed connection rejects with cluster_unavailable instead of hanging', async () => {
      const c = await fixture.open();
      await c.close();
      const isUnavailable = (err: unknown) => err instanceof SecureChatError && err.code === 'cluster_unavailable';
      await assert.rejects(c.bus.publish('t', { a: 1 }), isUnavailable);
      await assert.rejects(c.counters.incr('k', 1000), isUnavailable);
      await assert.rejects(c.set.addIfAbsent('k', 1000), isUnavailable);
      await assert.rejects(c.presence.list(), isUnavailable);
      assert.equal(c.healthy, false);
    });
  });
}
