/**
 * history end to end (SQLite): pages of a DM or a group, oldest first, paged backwards by id, in
 * exactly the wire shape of the `message` push; only participants and members may read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SecureChatClient } from '../../src/client/client.js';
import type { AppMessage } from '../../src/protocol/types.js';
import { PushLog, countRows, expectCode, sha256 } from '../helpers/chat-expect.js';
import { startChatServer, type TestChatServer } from '../helpers/chat-server.js';

type History = { messages: AppMessage[] };

describe('history', () => {
  let srv: TestChatServer;
  let alice: SecureChatClient;
  let bob: SecureChatClient;
  let carol: SecureChatClient;
  let bobMessages: PushLog;
  const dmIds: number[] = [];

  before(async () => {
    srv = await startChatServer();
    alice = await srv.login('alice');
    bob = await srv.login('bob');
    carol = await srv.login('carol');
    bobMessages = new PushLog(bob, 'message');
    for (let i = 1; i <= 7; i++) {
      const [from, to] = i % 2 === 1 ? [alice, 'bob'] : [bob, 'alice'];
      dmIds.push((await from.request<{ id: number }>('dm', { to, text: `dm ${i}` })).id);
    }
  });
  after(() => srv?.close());

  test('a DM page is the newest messages, oldest first, in the shape of the message push', async () => {
    const all = await alice.request<History>('history', { with: 'bob' });
    assert.deepEqual(all.messages.map((m) => m.id), dmIds);
    assert.deepEqual(all.messages.map((m) => [m.from, m.to, m.text]), [
      ['alice', 'bob', 'dm 1'], ['bob', 'alice', 'dm 2'], ['alice', 'bob', 'dm 3'], ['bob', 'alice', 'dm 4'],
      ['alice', 'bob', 'dm 5'], ['bob', 'alice', 'dm 6'], ['alice', 'bob', 'dm 7'],
    ]);
    // What bob was pushed live is exactly what history returns for the same message.
    const live = await bobMessages.waitFor((m) => m.id === dmIds[6]);
    assert.deepEqual(all.messages[6], live);
    // Both participants see the same page, whether the other is named by username or uuid.
    const aliceUuid = (await srv.storage.getUserByName('alice'))!.uuid;
    assert.deepEqual(await bob.request('history', { with: aliceUuid }), all);

    const newest = await alice.request<History>('history', { with: 'bob', limit: 3 });
    assert.deepEqual(newest.messages.map((m) => m.id), dmIds.slice(4));
    const older = await alice.request<History>('history', { with: 'bob', limit: 3, before: newest.messages[0].id as number });
    assert.deepEqual(older.messages.map((m) => m.id), dmIds.slice(1, 4));
    const oldest = await alice.request<History>('history', { with: 'bob', limit: 3, before: older.messages[0].id as number });
    assert.deepEqual(oldest.messages.map((m) => m.id), dmIds.slice(0, 1));
    assert.deepEqual(await alice.request('history', { with: 'bob', before: dmIds[0] }), { messages: [] });
    assert.deepEqual(await alice.request('history', { with: 'carol' }), { messages: [] });
  });

  test('group history: members only, including what was said before they joined; file messages carry the file', async () => {
    await alice.request('group_create', { name: 'hist' });
    await alice.request('group_add', { group: 'hist', user: 'bob' });
    const first = await alice.request<{ id: number }>('group_send', { group: 'hist', text: 'before carol' });
    await expectCode(carol.request('history', { group: 'hist' }), 'not_member');
    await alice.request('group_add', { group: 'hist', user: 'carol' });
    const content = Buffer.from('minutes');
    const offer = await bob.request<{ transfer_id: string }>('file_offer', { group: 'hist', name: 'minutes.txt', size: content.length, sha256: sha256(content) });
    await bob.request('file_chunk', { transfer_id: offer.transfer_id, offset: 0 }, content);
    const file = await bob.request<{ id: number; file: unknown }>('file_complete', { transfer_id: offer.transfer_id });

    const page = await carol.request<History>('history', { group: 'HIST' });
    assert.deepEqual(page.messages.map((m) => [m.id, m.kind, m.from, m.group, m.text]), [
      [first.id, 'text', 'alice', 'hist', 'before carol'],
      [file.id, 'file', 'bob', 'hist', ''],
    ]);
    assert.deepEqual(page.messages[1].file, file.file);
    assert.ok(!('to' in page.messages[0]), 'group entries name the group, not a recipient');
    assert.deepEqual((await carol.request<History>('history', { group: 'hist', limit: 1 })).messages.map((m) => m.id), [file.id]);
  });

  test('bad requests, unknown names and outsiders are refused and change nothing', async () => {
    const conversations = await countRows(srv.dbUrl, 'conversations');
    await expectCode(alice.request('history', {}), 'bad_request');
    await expectCode(alice.request('history', { with: 'bob', group: 'hist' }), 'bad_request');
    await expectCode(alice.request('history', { with: 'bob', limit: 201 }), 'bad_request');
    await expectCode(alice.request('history', { with: 'bob', limit: 0 }), 'bad_request');
    await expectCode(alice.request('history', { with: 'bob', before: 'x' }), 'bad_request');
    await expectCode(alice.request('history', { with: 'bob', before: 0 }), 'bad_request');
    await expectCode(alice.request('history', { with: 'bob', after: 1 }), 'bad_request');
    await expectCode(alice.request('history', { with: 'alice' }), 'bad_request');
    await expectCode(alice.request('history', { with: 'nobody' }), 'unknown_user');
    await expectCode(alice.request('history', { group: 'nosuch' }), 'unknown_group');
    const dave = await srv.login('dave');
    await expectCode(dave.request('history', { group: 'hist' }), 'not_member');
    const anonymous = await srv.connect('eve');
    await expectCode(anonymous.request('history', { with: 'bob' }), 'not_logged_in');
    assert.equal(await countRows(srv.dbUrl, 'conversations'), conversations);
    assert.equal((await alice.request<History>('history', { with: 'bob', limit: 200 })).messages.length, dmIds.length);
  });
});
