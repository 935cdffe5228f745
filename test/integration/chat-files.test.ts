/**
 * File transfer end to end on SQLite and MariaDB: offer → binary chunks → checked, stored and
 * delivered → fetched back as file_data records. Every refusal is checked for its code and for
 * leaving no file, no message and no transfer behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { SecureChatClient } from '../../src/client/client.js';
import type { AppMessage } from '../../src/protocol/types.js';
import type { Session } from '../../src/server/session.js';
import { transfersOf } from '../../src/server/transfers.js';
import { PushLog, countRows, expectCode, sha256 } from '../helpers/chat-expect.js';
import { TEST_PASSWORD, makeTestPki, startChatServer, type TestChatServer } from '../helpers/chat-server.js';
import { mysqlSkip } from '../helpers/mysql.js';

const USERS = ['alice', 'bob', 'carol', 'dave', 'eve'] as const;
type UserName = (typeof USERS)[number];
const CHUNK = 16 * 1024;
const MAX_FILE = 3 * 1024 * 1024;

interface Offer {
  transfer_id: string;
  chunk_size: number;
}
interface FileInfo {
  uuid: string;
  name: string;
  size: number;
  sha256: string;
}
interface Sent {
  id: number;
  seq: number;
  conversation_id: number;
  created_at: number;
  file: FileInfo;
}

/** Offers and streams `content` with every chunk pipelined (the server must apply them in order). */
async function sendFile(client: SecureChatClient, target: { to: string } | { group: string }, name: string, content: Buffer): Promise<Sent> {
  const offer = await client.request<Offer>('file_offer', { ...target, name, size: content.length, sha256: sha256(content) });
  const chunks: Promise<unknown>[] = [];
  for (let offset = 0; offset < content.length; offset += offer.chunk_size) {
    chunks.push(client.request('file_chunk', { transfer_id: offer.transfer_id, offset }, content.subarray(offset, offset + offer.chunk_size)));
  }
  await Promise.all(chunks);
  return client.request<Sent>('file_complete', { transfer_id: offer.transfer_id });
}

/** file_get, reassembling the file_data pushes and checking that they arrive contiguously. */
async function fetchFile(client: SecureChatClient, params: Record<string, unknown>): Promise<{ file: FileInfo; content: Buffer; records: number }> {
  const parts: Buffer[] = [];
  let received = 0;
  const onData = (msg: AppMessage, data?: Buffer): void => {
    assert.equal(msg.offset, received, 'file_data arrives in order');
    assert.ok(data);
    parts.push(data);
    received += data.length;
  };
  const offData = client.onPush('file_data', onData);
  try {
    const { file } = await client.request<{ file: FileInfo }>('file_get', params);
    return { file, content: Buffer.concat(parts), records: parts.length };
  } finally {
    offData();
  }
}

const skipMysql = await mysqlSkip();
const pki = await makeTestPki([...USERS]);
after(() => rmSync(pki.dir, { recursive: true, force: true }));

for (const backend of ['sqlite', 'mysql'] as const) {
  describe(`file transfer (${backend})`, { skip: backend === 'mysql' ? skipMysql : false }, () => {
    let srv: TestChatServer;
    const c = {} as Record<UserName, SecureChatClient>;
    const messages = {} as Record<UserName, PushLog>;
    const fileData = {} as Record<UserName, PushLog>;
    const watch = (user: UserName, client: SecureChatClient): void => {
      c[user] = client;
      messages[user] = new PushLog(client, 'message');
      fileData[user] = new PushLog(client, 'file_data');
    };
    const stored = async (): Promise<{ files: number; messages: number }> => ({
      files: await countRows(srv.dbUrl, 'files'),
      messages: await countRows(srv.dbUrl, 'messages'),
    });

    before(async () => {
      srv = await startChatServer({ backend, pki, chat: { maxFileBytes: MAX_FILE, fileChunkBytes: CHUNK, maxOpenTransfers: 2 } });
      for (const u of ['alice', 'bob', 'eve'] as const) watch(u, await srv.login(u));
      // carol registers now and comes back later, so she is offline when the group file is sent.
      (await srv.login('carol')).close();
      await c.alice.request('group_create', { name: 'files' });
      await c.alice.request('group_add', { group: 'files', user: 'bob' });
      await c.alice.request('group_add', { group: 'files', user: 'carol' });
    });
    after(() => srv?.close());

    test('a DM file is checked, stored, delivered and fetched back byte for byte (with backpressure)', async () => {
      const content = randomBytes(MAX_FILE - 12_345);
      const sent = await sendFile(c.alice, { to: 'bob' }, 'holiday.bin', content);
      const file = { uuid: sent.file.uuid, name: 'holiday.bin', size: content.length, sha256: sha256(content) };
      assert.deepEqual(sent.file, file);
      assert.match(sent.file.uuid, /^[0-9a-f-]{36}$/);

      const push = await messages.bob.waitFor((m) => m.id === sent.id);
      assert.deepEqual(push, {
        type: 'message',
        id: sent.id,
        seq: sent.seq,
        conversation_id: sent.conversation_id,
        kind: 'file',
        from: 'alice',
        from_uuid: (await srv.storage.getUserByName('alice'))!.uuid,
        to: 'bob',
        text: '',
        file,
        created_at: sent.created_at,
      });
      const row = await srv.storage.getFileByUuid(sent.file.uuid);
      assert.ok(row?.content.equals(content), 'storage holds exactly the bytes sent');

      const got = await fetchFile(c.bob, { message_id: sent.id, file: sent.file.uuid });
      assert.deepEqual(got.file, file);
      assert.ok(got.content.equals(content));
      assert.equal(got.records, Math.ceil(content.length / CHUNK));
      // The sender may fetch it too; `file` is optional.
      assert.ok((await fetchFile(c.alice, { message_id: sent.id })).content.equals(content));
    });

    test('a group file reaches online members now and offline members at login; names are sanitised', async () => {
      const content = Buffer.from('group payload\n'.repeat(3000));
      const sent = await sendFile(c.alice, { group: 'files' }, '../../etc/pass\u0000wd\u202e.txt', content);
      assert.equal(sent.file.name, 'passwd.txt');
      const push = await messages.bob.waitFor((m) => m.id === sent.id);
      assert.equal(push.group, 'files');
      assert.deepEqual(push.file, sent.file);

      const carol = await srv.connect('carol');
      watch('carol', carol);
      await carol.request('login', { password: TEST_PASSWORD });
      const late = await messages.carol.waitFor((m) => m.id === sent.id);
      assert.deepEqual(late.file, sent.file);
      assert.ok((await fetchFile(carol, { message_id: sent.id, file: sent.file.uuid })).content.equals(content));

      // An empty file is a file too.
      const empty = await sendFile(c.alice, { group: 'files' }, 'empty.txt', Buffer.alloc(0));
      assert.equal(empty.file.size, 0);
      assert.deepEqual(await fetchFile(c.bob, { message_id: empty.id }), { file: empty.file, content: Buffer.alloc(0), records: 0 });
    });

    test('offers are refused before any data moves, leaving nothing behind', async () => {
      const before = await stored();
      const bobMessages = messages.bob.messages.length;
      const good = { to: 'bob', name: 'x.bin', size: 10, sha256: 'ab'.repeat(32) };
      const refusals: [Record<string, unknown>, string][] = [
        [{ ...good, size: MAX_FILE + 1 }, 'file_too_large'],
        [{ ...good, size: 50 * 1024 * 1024 * 1024 }, 'file_too_large'],
        [{ ...good, to: 'nobody' }, 'unknown_user'],
        [{ ...good, to: 'alice' }, 'bad_request'],
        [{ ...good, to: undefined, group: 'nosuch' }, 'unknown_group'],
        [{ ...good, to: 'bob', group: 'files' }, 'bad_request'],
        [{ ...good, to: undefined }, 'bad_request'],
        [{ ...good, sha256: 'xyz' }, 'bad_request'],
        [{ ...good, sha256: 'g'.repeat(64) }, 'bad_request'],
        [{ ...good, size: -1 }, 'bad_request'],
        [{ ...good, size: 1.5 }, 'bad_request'],
        [{ ...good, name: '..' }, 'bad_request'],
        [{ ...good, name: 'dir/' }, 'bad_request'],
        [{ ...good, name: '\u0001\u0002' }, 'bad_request'],
        [{ ...good, name: 'é'.repeat(128) + '.txt' }, 'bad_request'],
        [{ ...good, name: '' }, 'bad_request'],
        [{ ...good, mode: 'fast' }, 'bad_request'],
      ];
      for (const [params, code] of refusals) {
        const err = await expectCode(c.alice.request('file_offer', params), code as 'bad_request');
        if (code === 'file_too_large') assert.equal(err.details?.maxBytes, MAX_FILE);
      }
      await expectCode(c.eve.request('file_offer', { ...good, to: undefined, group: 'files' }), 'not_member');
      const anonymous = await srv.connect('dave');
      await expectCode(anonymous.request('file_offer', good), 'not_logged_in');
      anonymous.close();

      assert.deepEqual(await stored(), before);
      assert.equal(messages.bob.messages.length, bobMessages);
      for (const u of ['alice', 'eve'] as const) {
        const session = [...srv.server.sessions].find((s) => s.username === u && !s.closed) as Session;
        assert.equal(transfersOf(session).openUploads, 0, `${u} has no transfer open`);
      }
    });

    test('chunks out of order, oversized or beyond the offer are refused without corrupting the transfer', async () => {
      const content = randomBytes(CHUNK * 2 + 100);
      const offer = await c.alice.request<Offer>('file_offer', { to: 'bob', name: 'careful.bin', size: content.length, sha256: sha256(content) });
      const chunk = (offset: number, data?: Buffer, client = c.alice, id = offer.transfer_id) => client.request('file_chunk', { transfer_id: id, offset }, data);
      await expectCode(chunk(CHUNK, content.subarray(CHUNK, 2 * CHUNK)), 'bad_request');
      await expectCode(chunk(0), 'bad_request');
      await expectCode(chunk(0, Buffer.alloc(CHUNK + 1)), 'bad_request');
      await expectCode(chunk(0, content.subarray(0, CHUNK), c.bob), 'not_found');
      await expectCode(chunk(0, content.subarray(0, CHUNK), c.alice, 'f'.repeat(32)), 'not_found');
      await expectCode(c.alice.request('file_chunk', { transfer_id: offer.transfer_id, offset: '0' }, content.subarray(0, CHUNK)), 'bad_request');
      assert.deepEqual(await chunk(0, content.subarray(0, CHUNK)), { received: CHUNK });
      await expectCode(chunk(0, content.subarray(0, CHUNK)), 'bad_request');
      assert.deepEqual(await chunk(CHUNK, content.subarray(CHUNK, 2 * CHUNK)), { received: 2 * CHUNK });
      await expectCode(chunk(2 * CHUNK, Buffer.alloc(CHUNK)), 'file_too_large');
      assert.deepEqual(await chunk(2 * CHUNK, content.subarray(2 * CHUNK)), { received: content.length });
      const sent = await c.alice.request<Sent>('file_complete', { transfer_id: offer.transfer_id });
      assert.ok((await fetchFile(c.bob, { message_id: sent.id })).content.equals(content));
    });

    test('a checksum mismatch or missing data stores nothing, sends nothing and ends the transfer', async () => {
      const before = await stored();
      const bobMessages = messages.bob.messages.length;
      const content = randomBytes(1000);
      const wrong = await c.alice.request<Offer>('file_offer', { to: 'bob', name: 'a.bin', size: 1000, sha256: sha256(randomBytes(1000)) });
      await c.alice.request('file_chunk', { transfer_id: wrong.transfer_id, offset: 0 }, content);
      await expectCode(c.alice.request('file_complete', { transfer_id: wrong.transfer_id }), 'checksum_mismatch', 'sha256');
      await expectCode(c.alice.request('file_complete', { transfer_id: wrong.transfer_id }), 'not_found');

      const short = await c.alice.request<Offer>('file_offer', { group: 'files', name: 'b.bin', size: 1000, sha256: sha256(content).toUpperCase() });
      await c.alice.request('file_chunk', { transfer_id: short.transfer_id, offset: 0 }, content.subarray(0, 999));
      await expectCode(c.alice.request('file_complete', { transfer_id: short.transfer_id }), 'checksum_mismatch', 'size');
      await expectCode(c.alice.request('file_chunk', { transfer_id: short.transfer_id, offset: 999 }, content.subarray(999)), 'not_found');
      await expectCode(c.alice.request('file_complete', {}), 'bad_request');

      assert.deepEqual(await stored(), before);
      assert.equal(messages.bob.messages.length, bobMessages);
    });

    test('at most maxOpenTransfers uploads per session; a closed session drops its transfers', async () => {
      const offer = (client: SecureChatClient) => client.request<Offer>('file_offer', { to: 'alice', name: 'o.bin', size: 5, sha256: sha256(Buffer.from('hello')) });
      const dave = await srv.login('dave');
      const first = await offer(dave);
      await offer(dave);
      const refused = await expectCode(offer(dave), 'rate_limited');
      assert.equal(refused.details?.maxOpenTransfers, 2);
      await dave.request('file_chunk', { transfer_id: first.transfer_id, offset: 0 }, Buffer.from('hello'));
      await dave.request('file_complete', { transfer_id: first.transfer_id });
      await offer(dave);

      const session = [...srv.server.sessions].find((s) => s.username === 'dave' && !s.closed) as Session;
      const transfers = transfersOf(session);
      assert.equal(transfers.openUploads, 2);
      const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
      dave.close();
      await closed;
      assert.equal(transfers.openUploads, 0);
    });

    test('file_get: only members of the conversation, only file messages, only the matching file', async () => {
      const content = Buffer.from('for bob only');
      const sent = await sendFile(c.alice, { to: 'bob' }, 'secret.txt', content);
      const text = await c.alice.request<{ id: number }>('dm', { to: 'bob', text: 'not a file' });
      const eveRecords = fileData.eve.messages.length;
      await expectCode(c.eve.request('file_get', { message_id: sent.id }), 'not_member');
      await expectCode(c.eve.request('file_get', { message_id: sent.id, file: sent.file.uuid }), 'not_member');
      await expectCode(c.bob.request('file_get', { message_id: text.id }), 'bad_request');
      await expectCode(c.bob.request('file_get', { message_id: 987_654_321 }), 'not_found');
      await expectCode(c.bob.request('file_get', { message_id: sent.id, file: '00000000-0000-4000-8000-000000000000' }), 'bad_request');
      await expectCode(c.bob.request('file_get', { file: sent.file.uuid }), 'bad_request');
      await expectCode(c.bob.request('file_get', { message_id: 0 }), 'bad_request');
      assert.equal(fileData.eve.messages.length, eveRecords, 'no file_data reached an outsider');

      // Leaving a group ends access to its files.
      const groupFile = await sendFile(c.alice, { group: 'files' }, 'g.txt', content);
      assert.ok((await fetchFile(c.bob, { message_id: groupFile.id })).content.equals(content));
      await c.bob.request('group_leave', { group: 'files' });
      await expectCode(c.bob.request('file_get', { message_id: groupFile.id }), 'not_member');
    });
  });
}
