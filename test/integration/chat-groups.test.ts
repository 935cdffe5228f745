/**
 * Groups end to end: a real server on 127.0.0.1:0, real clients, on SQLite and on a fresh MariaDB
 * database. Every refusal is checked for its code and for leaving storage and everyone's pushes
 * untouched.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { SecureChatClient } from '../../src/client/client.js';
import type { AppMessage } from '../../src/protocol/types.js';
import { PushLog, countRows, expectCode } from '../helpers/chat-expect.js';
import { TEST_PASSWORD, makeTestPki, startChatServer, type TestChatServer } from '../helpers/chat-server.js';
import { mysqlSkip } from '../helpers/mysql.js';

const USERS = ['alice', 'bob', 'carol', 'dave', 'eve'] as const;
type UserName = (typeof USERS)[number];

const skipMysql = await mysqlSkip();
const pki = await makeTestPki([...USERS]);
after(() => rmSync(pki.dir, { recursive: true, force: true }));

for (const backend of ['sqlite', 'mysql'] as const) {
  describe(`groups (${backend})`, { skip: backend === 'mysql' ? skipMysql : false }, () => {
    let srv: TestChatServer;
    const c = {} as Record<UserName, SecureChatClient>;
    const events = {} as Record<UserName, PushLog>;
    const messages = {} as Record<UserName, PushLog>;

    const watch = (user: UserName, client: SecureChatClient): void => {
      c[user] = client;
      events[user] = new PushLog(client, 'group_event');
      messages[user] = new PushLog(client, 'message');
    };
    const clearLogs = (): void => {
      for (const u of USERS) {
        events[u].clear();
        messages[u].clear();
      }
    };
    /** Creates `name` owned by alice with the given members (and roles), then forgets the pushes. */
    const setupGroup = async (name: string, members: [UserName, 'member' | 'admin'][]): Promise<number> => {
      const { group } = await c.alice.request<{ group: { id: number } }>('group_create', { name });
      for (const [user, role] of members) {
        await c.alice.request('group_add', { group: name, user });
        if (role === 'admin') await c.alice.request('group_promote', { group: name, user });
      }
      clearLogs();
      return group.id;
    };
    const roles = async (conversationId: number): Promise<Record<string, string>> =>
      Object.fromEntries((await srv.storage.getMembers(conversationId)).map((m) => [m.username, m.role]));

    before(async () => {
      srv = await startChatServer({ backend, pki });
      for (const u of USERS) watch(u, await srv.login(u));
    });
    after(() => srv?.close());

    test('create, add, list, info and send: members get the events and the message', async () => {
      const created = await c.alice.request<{ group: { id: number; name: string } }>('group_create', { name: 'team' });
      assert.equal(created.group.name, 'team');
      assert.ok(Number.isSafeInteger(created.group.id));

      await c.alice.request('group_add', { group: 'team', user: 'bob' });
      await c.alice.request('group_add', { group: 'Team', user: (await srv.storage.getUserByName('carol'))!.uuid });
      assert.deepEqual(await events.bob.waitFor((m) => m.user === 'carol'), { type: 'group_event', group: 'team', event: 'added', user: 'carol', role: 'member', by: 'alice' });
      assert.deepEqual(await events.carol.waitFor(), { type: 'group_event', group: 'team', event: 'added', user: 'carol', role: 'member', by: 'alice' });
      assert.deepEqual(events.alice.messages, [], 'the acting session learns from its response, not from an event');
      assert.deepEqual(events.eve.messages, []);

      assert.deepEqual(await c.bob.request('group_list'), { groups: [{ id: created.group.id, name: 'team', role: 'member', member_count: 3 }] });
      assert.deepEqual(await c.eve.request('group_list'), { groups: [] });
      const info = await c.carol.request<{ group: unknown; members: { username: string; role: string; online: boolean; uuid: string }[] }>('group_info', { group: 'TEAM' });
      assert.deepEqual(info.group, { id: created.group.id, name: 'team' });
      assert.deepEqual(
        info.members.map((m) => [m.username, m.role, m.online]),
        [['alice', 'owner', true], ['bob', 'member', true], ['carol', 'member', true]],
      );
      assert.equal(info.members[0].uuid, (await srv.storage.getUserByName('alice'))!.uuid);

      const ack = await c.alice.request<{ id: number; seq: number; conversation_id: number; created_at: number }>('group_send', { group: 'team', text: 'hello team 👋' });
      assert.equal(ack.seq, 1, 'the first message of a conversation has seq 1');
      assert.equal(ack.conversation_id, created.group.id);
      const expected = {
        type: 'message',
        id: ack.id,
        seq: ack.seq,
        conversation_id: created.group.id,
        kind: 'text',
        from: 'alice',
        from_uuid: info.members[0].uuid,
        group: 'team',
        text: 'hello team 👋',
        created_at: ack.created_at,
      };
      assert.deepEqual(await messages.bob.waitFor((m) => m.id === ack.id), expected);
      assert.deepEqual(await messages.carol.waitFor((m) => m.id === ack.id), expected);
      const stored = await srv.storage.getMessage(ack.id);
      assert.equal(stored?.body, 'hello team 👋');
      assert.ok(!messages.alice.messages.some((m) => m.id === ack.id), 'the sender is not echoed');
      assert.ok(!messages.eve.messages.some((m) => m.id === ack.id), 'non-members get nothing');
    });

    test('refuses bad input and forbidden actions with the right code, changing nothing', async () => {
      const id = await setupGroup('club', [['bob', 'admin'], ['carol', 'admin'], ['dave', 'member']]);
      const before = await roles(id);
      assert.deepEqual(before, { alice: 'owner', bob: 'admin', carol: 'admin', dave: 'member' });
      const rowsBefore = { messages: await countRows(srv.dbUrl, 'messages'), conversations: await countRows(srv.dbUrl, 'conversations') };

      // Names.
      for (const name of [' club2', 'club2 ', 'a/b', 'x'.repeat(65), 'tëam', 'semi;colon', 'new\nline']) {
        await expectCode(c.alice.request('group_create', { name }), 'bad_request');
      }
      await expectCode(c.alice.request('group_create', { name: '' }), 'bad_request');
      await expectCode(c.bob.request('group_create', { name: 'CLUB' }), 'exists');
      // Unknown group / user, not a member.
      await expectCode(c.alice.request('group_add', { group: 'nosuch', user: 'eve' }), 'unknown_group');
      await expectCode(c.alice.request('group_add', { group: 'club', user: 'nobody' }), 'unknown_user');
      await expectCode(c.eve.request('group_add', { group: 'club', user: 'eve' }), 'not_member');
      await expectCode(c.eve.request('group_info', { group: 'club' }), 'not_member');
      await expectCode(c.eve.request('group_send', { group: 'club', text: 'let me in' }), 'not_member');
      await expectCode(c.eve.request('group_leave', { group: 'club' }), 'not_member');
      await expectCode(c.eve.request('group_delete', { group: 'club' }), 'not_member');
      await expectCode(c.alice.request('group_info', { group: 'nosuch' }), 'unknown_group');
      await expectCode(c.alice.request('group_send', { group: 'nosuch', text: 'x' }), 'unknown_group');
      await expectCode(c.alice.request('group_add', { group: 'club', user: 'bob' }), 'exists');
      // Members do not manage; admins cannot touch the owner or other admins; roles and delete are the owner's.
      await expectCode(c.dave.request('group_add', { group: 'club', user: 'eve' }), 'forbidden');
      await expectCode(c.dave.request('group_remove', { group: 'club', user: 'carol' }), 'forbidden');
      await expectCode(c.dave.request('group_rename', { group: 'club', name: 'daves' }), 'forbidden');
      await expectCode(c.bob.request('group_remove', { group: 'club', user: 'alice' }), 'forbidden');
      await expectCode(c.bob.request('group_remove', { group: 'club', user: 'carol' }), 'forbidden');
      await expectCode(c.bob.request('group_promote', { group: 'club', user: 'dave' }), 'forbidden');
      await expectCode(c.bob.request('group_demote', { group: 'club', user: 'carol' }), 'forbidden');
      await expectCode(c.bob.request('group_delete', { group: 'club' }), 'forbidden');
      await expectCode(c.alice.request('group_demote', { group: 'club', user: 'alice' }), 'forbidden');
      await expectCode(c.alice.request('group_remove', { group: 'club', user: 'eve' }), 'not_member', 'target');
      await expectCode(c.alice.request('group_promote', { group: 'club', user: 'eve' }), 'not_member', 'target');
      await expectCode(c.alice.request('group_remove', { group: 'club', user: 'alice' }), 'bad_request');
      await expectCode(c.alice.request('group_promote', { group: 'club', user: 'carol' }), 'bad_request');
      await expectCode(c.alice.request('group_promote', { group: 'club', user: 'alice' }), 'bad_request');
      await expectCode(c.alice.request('group_demote', { group: 'club', user: 'dave' }), 'bad_request');
      await expectCode(c.alice.request('group_rename', { group: 'club', name: 'team' }), 'exists');
      await expectCode(c.alice.request('group_rename', { group: 'club', name: '../club' }), 'bad_request');
      // Malformed arguments.
      await expectCode(c.alice.request('group_add', { group: 'club' }), 'bad_request');
      await expectCode(c.alice.request('group_add', { group: 'club', user: 'eve', role: 'owner' }), 'bad_request');
      await expectCode(c.alice.request('group_info', { group: 5 }), 'bad_request');
      await expectCode(c.alice.request('group_send', { group: 'club', text: '' }), 'bad_request');
      await expectCode(c.alice.request('group_send', { group: 'club', text: 'é'.repeat(40_000) }), 'bad_request');

      assert.deepEqual(await roles(id), before);
      assert.equal((await srv.storage.getConversation(id))?.name, 'club');
      assert.equal(await srv.storage.getGroupByName('club2'), null);
      assert.deepEqual(
        { messages: await countRows(srv.dbUrl, 'messages'), conversations: await countRows(srv.dbUrl, 'conversations') },
        rowsBefore,
      );
      for (const u of USERS) {
        assert.deepEqual(events[u].messages, [], `${u} got no group_event`);
        assert.deepEqual(messages[u].messages, [], `${u} got no message`);
      }
    });

    test('admins add and remove members; the owner promotes and demotes; the affected hear of it', async () => {
      const id = await setupGroup('crew', [['bob', 'member']]);
      await c.alice.request('group_promote', { group: 'crew', user: 'bob' });
      assert.deepEqual(await events.bob.waitFor(), { type: 'group_event', group: 'crew', event: 'role', user: 'bob', role: 'admin', by: 'alice' });

      await c.bob.request('group_add', { group: 'crew', user: 'carol' });
      assert.deepEqual(await events.alice.waitFor((m) => m.event === 'added'), { type: 'group_event', group: 'crew', event: 'added', user: 'carol', role: 'member', by: 'bob' });
      await c.bob.request('group_remove', { group: 'crew', user: 'carol' });
      const removed = { type: 'group_event', group: 'crew', event: 'removed', user: 'carol', by: 'bob' };
      assert.deepEqual(await events.carol.waitFor((m) => m.event === 'removed'), removed);
      assert.deepEqual(await events.alice.waitFor((m) => m.event === 'removed'), removed);
      assert.equal(await srv.storage.getMember(id, (await srv.storage.getUserByName('carol'))!.id), null);
      await expectCode(c.carol.request('group_send', { group: 'crew', text: 'still here?' }), 'not_member');

      await c.bob.request('group_rename', { group: 'crew', name: 'Crew-2.0 x' });
      assert.deepEqual(await events.alice.waitFor((m) => m.event === 'renamed'), { type: 'group_event', group: 'crew', event: 'renamed', name: 'Crew-2.0 x', by: 'bob' });
      await expectCode(c.alice.request('group_info', { group: 'crew' }), 'unknown_group');
      assert.equal((await c.alice.request<{ group: { id: number } }>('group_info', { group: 'crew-2.0 X' })).group.id, id);

      await c.alice.request('group_demote', { group: 'Crew-2.0 x', user: 'bob' });
      assert.deepEqual(await events.bob.waitFor((m) => m.role === 'member'), { type: 'group_event', group: 'Crew-2.0 x', event: 'role', user: 'bob', role: 'member', by: 'alice' });
      assert.deepEqual(await roles(id), { alice: 'owner', bob: 'member' });
      await expectCode(c.bob.request('group_add', { group: 'Crew-2.0 x', user: 'carol' }), 'forbidden');
    });

    test('the owner leaving passes ownership on (oldest admin first); the last one out deletes the group', async () => {
      const id = await setupGroup('relay', [['bob', 'member'], ['carol', 'admin']]);
      assert.deepEqual(await c.alice.request('group_leave', { group: 'relay' }), { deleted: false, new_owner: 'carol' });
      // Leaving is its own event, not a removal.
      assert.deepEqual(await events.bob.waitFor((m) => m.event === 'left'), { type: 'group_event', group: 'relay', event: 'left', user: 'alice', by: 'alice' });
      assert.deepEqual(await events.bob.waitFor((m) => m.event === 'role'), { type: 'group_event', group: 'relay', event: 'role', user: 'carol', role: 'owner', by: 'alice' });
      assert.deepEqual(await roles(id), { bob: 'member', carol: 'owner' });
      await expectCode(c.alice.request('group_info', { group: 'relay' }), 'not_member');

      assert.deepEqual(await c.carol.request('group_leave', { group: 'relay' }), { deleted: false, new_owner: 'bob' });
      assert.deepEqual(await c.bob.request('group_leave', { group: 'relay' }), { deleted: true });
      assert.equal(await srv.storage.getGroupByName('relay'), null);
      assert.equal(await srv.storage.getConversation(id), null);
    });

    test('the owner deletes a group: members are told, its messages go, the name is free again', async () => {
      const id = await setupGroup('doomed', [['bob', 'member']]);
      const sent = await c.bob.request<{ id: number }>('group_send', { group: 'doomed', text: 'bye' });
      await c.alice.request('group_delete', { group: 'DOOMED' });
      assert.deepEqual(await events.bob.waitFor((m) => m.event === 'deleted'), { type: 'group_event', group: 'doomed', event: 'deleted', by: 'alice' });
      assert.equal(await srv.storage.getConversation(id), null);
      assert.equal(await srv.storage.getMessage(sent.id), null);
      await expectCode(c.bob.request('group_send', { group: 'doomed', text: 'hello?' }), 'unknown_group');
      assert.ok(!(await c.bob.request<{ groups: { name: string }[] }>('group_list')).groups.some((g) => g.name === 'doomed'));
      await c.bob.request('group_create', { name: 'doomed' });
    });

    test('an offline member gets the group messages at login, in order', async () => {
      const id = await setupGroup('night', [['dave', 'member']]);
      c.dave.close();
      await new Promise<void>((resolve) => c.dave.once('close', () => resolve()));
      const sent: number[] = [];
      for (const text of ['one', 'two', 'three']) sent.push((await c.alice.request<{ id: number }>('group_send', { group: 'night', text })).id);

      const again = await srv.connect('dave');
      watch('dave', again);
      await again.request('login', { password: TEST_PASSWORD });
      await messages.dave.waitFor((m) => m.id === sent[2]);
      const got = messages.dave.messages.filter((m: AppMessage) => m.conversation_id === id);
      assert.deepEqual(got.map((m) => [m.id, m.text, m.group]), [[sent[0], 'one', 'night'], [sent[1], 'two', 'night'], [sent[2], 'three', 'night']]);
    });
  });
}
