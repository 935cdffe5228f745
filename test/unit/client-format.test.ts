import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colorEnabled, formatGroupEvent, formatMessage, palette, safeText } from '../../src/client/format.js';

test('peer text cannot inject terminal escapes', () => {
  assert.equal(safeText('hi\x1b[2Jthere\r'), 'hi�[2Jthere�');
  assert.equal(safeText('tab\tok\nnewline'), 'tab\tok\nnewline');
  assert.equal(safeText('a\u202Eb'), 'a�b');
});

test('colours only on a TTY without NO_COLOR and without --no-color', () => {
  assert.equal(colorEnabled({ isTTY: true }, {}), true);
  assert.equal(colorEnabled({ isTTY: false }, {}), false);
  assert.equal(colorEnabled({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(colorEnabled({ isTTY: true }, {}, false), false);
  assert.equal(palette(false).red('x'), 'x');
  assert.equal(palette(true).red('x'), '\x1b[31mx\x1b[0m');
});

test('messages and group events read as sentences', () => {
  const p = palette(false);
  const base = { id: 1, seq: 1, conversation_id: 2, from: 'alice', from_uuid: 'u', created_at: Date.now() };
  assert.match(formatMessage({ ...base, kind: 'text', to: 'bob', text: 'hi' }, p), /alice → bob: hi$/);
  assert.match(
    formatMessage({ ...base, kind: 'file', group: 'team', text: '', file: { uuid: 'f', name: 'a.pdf', size: 2048, sha256: 'x'.repeat(64) } }, p),
    /alice → #team: \[file\] a\.pdf \(2\.0 KiB\)$/,
  );
  assert.equal(formatGroupEvent({ group: 'team', event: 'added', user: 'bob' }, p), '* bob was added to #team');
  assert.equal(formatGroupEvent({ group: 'team', event: 'renamed', name: 'crew' }, p), '* #team was renamed to #crew');
});

test('group events say who did what (the `by` field), and fall back when it is absent', () => {
  const p = palette(false);
  assert.equal(formatGroupEvent({ group: 'team', event: 'added', user: 'bob', by: 'alice' }, p), '* alice added bob to #team');
  assert.equal(formatGroupEvent({ group: 'team', event: 'left', user: 'carol' }, p), '* carol left #team');
  assert.equal(formatGroupEvent({ group: 'team', event: 'removed', user: 'carol', by: 'carol' }, p), '* carol left #team');
  assert.equal(formatGroupEvent({ group: 'team', event: 'removed', user: 'carol', by: 'bob' }, p), '* bob removed carol from #team');
  assert.equal(formatGroupEvent({ group: 'team', event: 'renamed', name: 'core', by: 'alice' }, p), '* alice renamed #team to #core');
  assert.equal(formatGroupEvent({ group: 'team', event: 'role', user: 'bob', role: 'admin', by: 'alice' }, p), '* alice made bob an admin of #team');
  assert.equal(formatGroupEvent({ group: 'team', event: 'added', user: 'bob', by: 'alice' }, p, 'bob'), '* alice added you to #team');
  assert.equal(formatGroupEvent({ group: 'team', event: 'deleted', by: 'alice' }, p), '* alice deleted #team');
  assert.equal(formatGroupEvent({ group: 'team', event: 'role', user: 'bob', role: 'admin' }, p), '* bob is now an admin of #team');
});
