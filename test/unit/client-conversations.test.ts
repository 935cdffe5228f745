import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completeLine } from '../../src/client/completion.js';
import { Conversations, MAX_TRACKED } from '../../src/client/conversations.js';
import { onePerUser } from '../../src/client/execute.js';
import { formatHistory, palette } from '../../src/client/format.js';
import { rowsOf } from '../../src/client/screen.js';
import type { ChatMessage } from '../../src/client/chat-client.js';

const msg = (over: Partial<ChatMessage>): ChatMessage => ({ id: 1, seq: 1, conversation_id: 1, kind: 'text', from: 'bob', from_uuid: 'u', to: 'alice', text: 'x', created_at: 0, ...over });

test('unread: counted outside the current conversation, cleared by /query and by looking; own messages never count', () => {
  const c = new Conversations(() => 'alice');
  c.setCurrent({ user: 'bob' });
  assert.equal(c.noteMessage(msg({ from: 'bob' })), true);
  assert.equal(c.noteMessage(msg({ from: 'carol', created_at: 5 })), false);
  assert.equal(c.noteMessage(msg({ from: 'dave', to: undefined, group: 'team', created_at: 9 })), false);
  c.noteMessage(msg({ from: 'dave', to: undefined, group: 'team', created_at: 10 }));
  c.noteMessage(msg({ from: 'alice', to: 'carol' }));
  assert.deepEqual(
    c.list().map((e) => [e.key, e.unread]),
    [['#team', 2], ['carol', 1], ['bob', 0]],
  );
  c.setCurrent({ group: 'team' });
  c.markRead({ user: 'carol' });
  assert.ok(c.list().every((e) => e.unread === 0));
  c.renameGroup('team', 'core');
  assert.deepEqual(c.current, { group: 'core' });
  c.forgetGroup('core');
  assert.equal(c.current, null);
});

test('the conversation list is bounded', () => {
  const c = new Conversations(() => 'alice');
  for (let i = 0; i < MAX_TRACKED + 10; i++) c.noteMessage(msg({ from: `u${i}`, created_at: i + 1 }));
  assert.equal(c.list().length, MAX_TRACKED);
  assert.ok(!c.list().some((e) => e.key === 'u0'), 'the least recent went first');
});

test('/who: each user once, with the number of sessions', () => {
  const users = onePerUser([
    { uuid: '2', username: 'bob', ip: '' } as never,
    { uuid: '1', username: 'alice', ip: '10.0.0.1' },
    { uuid: '2', username: 'bob' } as never,
  ]);
  assert.deepEqual(users, [
    { uuid: '1', username: 'alice', sessions: 1, ip: '10.0.0.1' },
    { uuid: '2', username: 'bob', sessions: 2, ip: '' },
  ]);
});

test('history: a date line before the first message and at each change of day', () => {
  const day = 24 * 3600_000;
  const t0 = new Date(2026, 11, 1, 23, 50).getTime();
  const lines = formatHistory([msg({ created_at: t0 }), msg({ created_at: t0 + 60_000 }), msg({ created_at: t0 + day })], palette(false));
  assert.deepEqual(
    lines.filter((l) => l.startsWith('—')),
    ['— Tuesday 1 December 2026 —', '— Wednesday 2 December 2026 —'],
  );
  assert.equal(lines.length, 5);
});

test('completion: commands, users, #groups and group actions by position', () => {
  const names = { users: ['bob', 'bernard', 'carol'], groups: ['team', 'my team'] };
  assert.deepEqual(completeLine('/que', names), [['/query'], '/que']);
  assert.deepEqual(completeLine('/qu', names), [['/query', '/quit'], '/qu']);
  assert.deepEqual(completeLine('/msg b', names), [['bernard', 'bob'], 'b']);
  assert.deepEqual(completeLine('/query #t', names), [['#team'], '#t']);
  assert.deepEqual(completeLine('/g t', names), [['team'], 't']);
  assert.deepEqual(completeLine('/g "my', names), [['"my team"'], '"my']);
  assert.deepEqual(completeLine('/group pro', names), [['promote'], 'pro']);
  assert.deepEqual(completeLine('/group add team c', names), [['carol'], 'c']);
  assert.deepEqual(completeLine('/help his', names), [['history'], 'his']);
  assert.deepEqual(completeLine('just text', names), [[], 'just text']);
});

test('rows a line takes on the terminal (colours take none, long lines wrap)', () => {
  assert.equal(rowsOf('\x1b[2mabc\x1b[0m', 80), 1);
  assert.equal(rowsOf('x'.repeat(81), 80), 2);
  assert.equal(rowsOf('a\nb', 80), 2);
  assert.equal(rowsOf('', 80), 1);
});
