/** How the cluster soak judges a `who` answer and when presence converged (scripts/soak/presence.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convergedAfter, MAX_PROBES, PresenceTruth, presenceAfter, probeCorrect } from '../../scripts/soak/presence.js';
import { percentile } from '../../scripts/soak/stats.js';

test('a session that died but is still listed is stale; one that logged in elsewhere and is not listed is missing', () => {
  const t = new PresenceTruth(['ann', 'ben']);
  const annOld = t.begin('ann', 'C', 0);
  t.loggedIn(annOld, 10);
  const ben = t.begin('ben', 'A', 0);
  t.loggedIn(ben, 10);
  t.closed(annOld, 1000); // node C killed
  const annNew = t.begin('ann', 'A', 1200);
  t.loggedIn(annNew, 1400);

  // Before the kill: one entry each.
  assert.ok(probeCorrect(t.record('A', 500, 510, ['ann', 'ben'])));
  // ann's dead session and her new one both listed: stale.
  assert.deepEqual(t.record('A', 2000, 2010, ['ann', 'ann', 'ben']).stale, ['ann']);
  // Between the kill and her new login, her old entry is stale too.
  assert.deepEqual(t.record('A', 1100, 1110, ['ann', 'ben']).stale, ['ann']);
  // The lease ran out but her new session is not listed yet: missing.
  assert.deepEqual(t.record('A', 3000, 3010, ['ben']).missing, ['ann']);
  // A login answered while the `who` was in flight may or may not be listed.
  assert.ok(probeCorrect(t.record('A', 1300, 1500, ['ben'])));
  assert.ok(probeCorrect(t.record('A', 1300, 1500, ['ann', 'ben'])));
  // Users the soak does not judge (the probes) are ignored; a failed request is incorrect.
  assert.ok(probeCorrect(t.record('A', 4000, 4010, ['ann', 'ben', 'probe0'])));
  assert.equal(probeCorrect(t.record('A', 4100, 4110, new Error('request_timeout'))), false);
});

test('convergence: the first probe after the last incorrect one, on the slowest node; null if still wrong', () => {
  const t = new PresenceTruth(['ann']);
  const s = t.begin('ann', 'A', 0);
  t.loggedIn(s, 1);
  const at = (node: string, tq: number, listed: string[]): void => void t.record(node, tq, tq + 5, listed);
  at('A', 1000, ['ann', 'ann']);
  at('A', 2000, ['ann']);
  at('A', 3000, ['ann']);
  at('B', 1000, ['ann', 'ann']);
  at('B', 2000, ['ann', 'ann']);
  at('B', 4000, ['ann']);
  const bad = (p: Parameters<typeof probeCorrect>[0]): boolean => !probeCorrect(p);
  assert.equal(convergedAfter(t.probes, ['A'], 500, 5000, bad), 1.5);
  assert.equal(convergedAfter(t.probes, ['A', 'B'], 500, 5000, bad), 3.5);
  // Observed only until 3 s, B never became right: not converged.
  assert.equal(convergedAfter(t.probes, ['A', 'B'], 500, 3000, bad), null);
  // A node with no probe in the window has not shown anything.
  assert.equal(convergedAfter(t.probes, ['C'], 500, 5000, bad), null);
  // Right all along: zero.
  assert.equal(convergedAfter(t.probes, ['A'], 1500, 5000, bad), 0);
  const p = presenceAfter(t.probes, ['A', 'B'], 500, 5000);
  assert.equal(p.convergedSeconds, 3.5);
  assert.equal(p.staleClearedSeconds, 3.5);
  assert.equal(p.listedAgainSeconds, 0);
  assert.deepEqual(p.observedOn, ['A', 'B']);
});

test('probe answers are bounded (MAX_PROBES); later ones are judged but not kept', () => {
  const t = new PresenceTruth([]);
  for (let i = 0; i < MAX_PROBES + 10; i++) t.record('A', i, i + 1, []);
  assert.equal(t.probes.length, MAX_PROBES);
});

test('percentile: nearest rank', () => {
  assert.equal(percentile([], 0.99), null);
  assert.equal(percentile([5], 0.99), 5);
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(hundred, 0.99), 99);
  assert.equal(percentile(hundred, 0.5), 50);
  assert.equal(percentile(hundred, 1), 100);
});
