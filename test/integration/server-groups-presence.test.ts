/**
 * Issue 9 §5, server side: `who` shows a user's address only to that user; a group re-created
 * under a deleted group's name inherits nothing (members, messages) and adding someone tells them
 * who did it; every group_event names its actor (`by`) and leaving is `left`, not `removed`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SecureChatClient } from '../../src/client/client.js';
import { PushLog, expectCode } from '../helpers/chat-expect.js';
import { startChatServer, type TestChatServer } from '../helpers/chat-server.js';

let srv: TestChatServer;
const c: Record<string, SecureChatClient> = {};
const events: Record<string, PushLog> = {};
before(async () => {
  srv = await startChatServer();
  for (const u of ['alice', 'bob', 'carol', 'dave']) {
    c[u] = await srv.login(u);
    events[u] = new PushLog(c[u], 'group_event');
  }
});
after(() => srv.close());

type Who = { users: Array<{ uuid: string; username: string; ip?: string }> };

test('who: each user sees their own address, nobody else\'s', async () => {
  const second = await srv.login('alice');
  try {
    const mine = await c.alice.request<Who>('who');
    const alices = mine.users.filter((u) => u.username === 'alice');
    assert.equal(alices.length, 2, 'both of alice\'s sessions are listed');
    for (const a of alices) assert.equal(a.ip, '127.0.0.1');
    for (const other of mine.users.filter((u) => u.username !== 'alice')) assert.equal('ip' in other, false, `${other.username}'s address is hidden`);
    const bobs = await c.bob.request<Who>('who');
    assert.equal(bobs.users.find((u) => u.username === 'bob')?.ip, '127.0.0.1');
    assert.ok(bobs.users.filter((u) => u.username === 'alice').every((u) => u.ip === undefined));
  } finally {
    second.close();
  }
});

test('a group re-created under a deleted group\'s name inherits no members or messages; adding someone tells them who did it', async () => {
  await c.alice.request('group_create', { name: 'team' });
  await c.alice.request('group_add', { group: 'team', user: 'bob' });
  await c.alice.request('group_add', { group: 'team', user: 'carol' });
  await c.bob.request('group_send', { group: 'team', text: 'old secret' });
  await c.alice.request('group_delete', { group: 'team' });
  assert.equal((await events.bob.waitFor((m) => m.event === 'deleted')).by, 'alice');

  // dave takes the free name.
  await c.dave.request('group_create', { name: 'Team' });
  const info = await c.dave.request<{ members: Array<{ username: string }> }>('group_info', { group: 'team' });
  assert.deepEqual(info.members.map((m) => m.username), ['dave'], 'no old member re-appears');
  // An old member's next post to that name does not reach the new owner…
  await expectCode(c.bob.request('group_send', { group: 'team', text: 'meant for alice' }), 'not_member');
  await expectCode(c.carol.request('history', { group: 'team' }), 'not_member');
  // …and when dave adds carol, carol is told, with who added her; she sees none of the old messages.
  await c.dave.request('group_add', { group: 'team', user: 'carol' });
  assert.deepEqual(await events.carol.waitFor((m) => m.event === 'added' && m.group === 'Team'), {
    type: 'group_event', group: 'Team', event: 'added', user: 'carol', role: 'member', by: 'dave',
  });
  const history = await c.carol.request<{ messages: Array<{ text?: string }> }>('history', { group: 'team' });
  assert.deepEqual(history.messages, []);
});

test('every group_event carries `by`; leaving is `left`, removal is `removed`', async () => {
  await c.alice.request('group_create', { name: 'crew' });
  for (const u of ['bob', 'carol']) await c.alice.request('group_add', { group: 'crew', user: u });
  await c.bob.request('group_leave', { group: 'crew' });
  assert.deepEqual(await events.alice.waitFor((m) => m.group === 'crew' && m.event === 'left'), {
    type: 'group_event', group: 'crew', event: 'left', user: 'bob', by: 'bob',
  });
  await c.alice.request('group_remove', { group: 'crew', user: 'carol' });
  assert.deepEqual(await events.carol.waitFor((m) => m.group === 'crew' && m.event === 'removed'), {
    type: 'group_event', group: 'crew', event: 'removed', user: 'carol', by: 'alice',
  });
  assert.ok(events.alice.messages.every((m) => typeof m.by === 'string'));
  assert.ok(events.carol.messages.every((m) => typeof m.by === 'string'));
});
