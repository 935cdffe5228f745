/**
 * The per-user storage quota counts the text of messages (DMs and group messages), not only files
 * (issue 10 case 8 in another shape: text at the request rate of every session would otherwise
 * fill the database without bound). A retried message already stored is answered as before, and a
 * restarted server reads the text already stored back from the database.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SecureChatError } from '../../src/errors.js';
import { startChatServer, type TestChatServer } from '../helpers/chat-server.js';

const QUOTA = 4096;
const servers: TestChatServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function refusal(p: Promise<unknown>): Promise<SecureChatError> {
  try {
    await p;
  } catch (err) {
    return err as SecureChatError;
  }
  throw new Error('expected a refusal');
}

test('text DMs and group messages count against userQuotaBytes; a stored retry is answered; a restart remembers', async () => {
  const srv = await startChatServer({ chat: { userQuotaBytes: QUOTA } });
  servers.push(srv);
  const alice = await srv.login('alice');
  (await srv.login('bob')).close();
  const kib = 'é'.repeat(512); // 1 KiB of UTF-8 in 512 characters: bytes are what counts
  await alice.request('dm', { to: 'bob', text: kib, client_msg_id: 'm1' });
  await alice.request('dm', { to: 'bob', text: kib });
  const group = await alice.request<{ group: { name: string } }>('group_create', { name: 'quota-team' });
  await alice.request('group_send', { group: group.group.name, text: kib });
  await alice.request('dm', { to: 'bob', text: 'x'.repeat(1000) });
  // 4072 of 4096 bytes used: the next KiB does not fit, as a DM or in a group.
  const dm = await refusal(alice.request('dm', { to: 'bob', text: kib }));
  assert.equal(dm.code, 'quota_exceeded');
  assert.equal(dm.details?.usedBytes, 3 * 1024 + 1000);
  assert.equal((await refusal(alice.request('group_send', { group: group.group.name, text: kib }))).code, 'quota_exceeded');
  // A retry of the first message (stored before the quota filled) gets its first answer.
  const retry = await alice.request<{ duplicate?: boolean }>('dm', { to: 'bob', text: kib, client_msg_id: 'm1' });
  assert.equal(retry.duplicate, true);
  // Text and files share the one quota.
  const file = Buffer.alloc(100, 1);
  const offer = await refusal(alice.request('file_offer', { to: 'bob', name: 'a.bin', size: file.length, sha256: createHash('sha256').update(file).digest('hex') }));
  assert.equal(offer.code, 'quota_exceeded');
  // Small enough still fits.
  await alice.request('dm', { to: 'bob', text: 'ok' });
  alice.close();

  // A restarted server (same database) reads the bytes already stored: still full.
  await srv.stop();
  const again = await startChatServer({ chat: { userQuotaBytes: QUOTA }, dbUrl: srv.dbUrl, pki: srv.pki });
  servers.push(again);
  const alice2 = await again.login('alice');
  assert.equal((await refusal(alice2.request('dm', { to: 'bob', text: kib }))).code, 'quota_exceeded');
  alice2.close();
});
