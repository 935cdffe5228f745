/**
 * ChatClient end to end: a real server on 127.0.0.1 port 0 over SQLite, real clients, real files.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatClient, type ChatMessage, type FileEvent } from '../../src/client/chat-client.js';
import { loadClientFiles } from '../../src/client/identity.js';
import { SecureChatError } from '../../src/errors.js';
import { startChatServer, TEST_PASSWORD, userIdentity, type TestChatServer } from '../helpers/chat-server.js';

let srv: TestChatServer;
let work: string;
const open: ChatClient[] = [];

before(async () => {
  srv = await startChatServer({ chat: { maxFileBytes: 512 * 1024, fileChunkBytes: 64 * 1024 } });
  work = mkdtempSync(join(tmpdir(), 'sc-chatclient-'));
});

after(async () => {
  for (const c of open) c.close();
  await srv.close();
  rmSync(work, { recursive: true, force: true });
});

const registered = new Set<string>();

async function client(user: string, opts: { autoFetchFiles?: string } = {}): Promise<ChatClient> {
  const chat = await ChatClient.connect({
    host: '127.0.0.1',
    port: srv.port,
    serverName: 'localhost',
    identity: userIdentity(srv.pki, user),
    trust: srv.pki.trust,
    ...opts,
  });
  open.push(chat);
  if (registered.has(user)) await chat.login(TEST_PASSWORD);
  else {
    await chat.register(TEST_PASSWORD);
    registered.add(user);
  }
  return chat;
}

function next<K extends 'message' | 'delivered' | 'file' | 'presence' | 'group_event'>(chat: ChatClient, event: K, count = 1): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const got: unknown[] = [];
    const timer = setTimeout(() => reject(new Error(`only ${got.length}/${count} "${event}" events`)), 5000);
    const on = (ev: unknown): void => {
      got.push(ev);
      if (got.length === count) {
        clearTimeout(timer);
        chat.off(event, on as never);
        resolve(got);
      }
    };
    chat.on(event, on as never);
  });
}

test('DM: the recipient gets it, acks it, and the sender hears "delivered"', async () => {
  const alice = await client('alice');
  const bob = await client('bob');
  assert.equal(alice.user?.username, 'alice');
  const received = next(bob, 'message');
  const delivered = next(alice, 'delivered');
  const sent = await alice.dm('bob', 'hi bob');
  const [msg] = (await received) as ChatMessage[];
  assert.equal(msg.id, sent.id);
  assert.equal(msg.from, 'alice');
  assert.equal(msg.to, 'bob');
  assert.equal(msg.text, 'hi bob');
  const [d] = (await delivered) as { id: number; to: string }[];
  assert.equal(d.id, sent.id);
  assert.equal(d.to, 'bob');
  const users = await alice.who();
  assert.deepEqual(users.map((u) => u.username).sort(), ['alice', 'bob']);
  alice.close();
  bob.close();
});

test('offline messages arrive once, in order; what was acked is not sent again', async () => {
  const alice = await client('alice');
  const carolFirst = await client('carol');
  carolFirst.close();
  const ids: number[] = [];
  for (const text of ['one', 'two', 'three']) ids.push((await alice.dm('carol', text)).id);

  const carol = await ChatClient.connect({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', identity: userIdentity(srv.pki, 'carol'), trust: srv.pki.trust });
  open.push(carol);
  const got = next(carol, 'message', 3);
  await carol.login(TEST_PASSWORD);
  const msgs = (await got) as ChatMessage[];
  assert.deepEqual(msgs.map((m) => m.text), ['one', 'two', 'three']);
  assert.deepEqual(msgs.map((m) => m.id), ids);
  await carol.idle(); // the ack is on the server before we leave
  carol.close();

  const carol2 = await ChatClient.connect({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', identity: userIdentity(srv.pki, 'carol'), trust: srv.pki.trust });
  open.push(carol2);
  const seen: string[] = [];
  carol2.on('message', (m) => seen.push(m.text));
  await carol2.login(TEST_PASSWORD);
  const fresh = next(carol2, 'message');
  await alice.dm('carol', 'four');
  await fresh;
  assert.deepEqual(seen, ['four']);
  alice.close();
  carol2.close();
});

test('groups: create, add, info, broadcast, history', async () => {
  const alice = await client('alice');
  const bob = await client('bob');
  const group = await alice.groupCreate('team');
  assert.equal(group.name, 'team');
  await alice.groupAdd('team', 'bob');
  const info = await alice.groupInfo('team');
  assert.deepEqual(info.members.map((m) => [m.username, m.role]).sort(), [['alice', 'owner'], ['bob', 'member']]);
  const got = next(bob, 'message');
  const sent = await alice.groupSend('team', 'hello team');
  const [m] = (await got) as ChatMessage[];
  assert.equal(m.group, 'team');
  assert.equal(m.text, 'hello team');
  assert.equal(m.id, sent.id);
  const hist = await bob.history({ group: 'team', limit: 10 });
  assert.deepEqual(hist.map((h) => h.text), ['hello team']);
  const list = await bob.groupList();
  assert.deepEqual(list.map((g) => [g.name, g.role]), [['team', 'member']]);
  await assert.rejects(bob.groupAdd('team', 'carol'), (e: SecureChatError) => e.code === 'forbidden');
  alice.close();
  bob.close();
});

test('files: sent in chunks, fetched automatically, verified, saved under a safe unique name', async () => {
  const src = join(work, 'report.bin');
  const data = randomBytes(200 * 1024 + 123); // several 64 KiB chunks plus a tail
  writeFileSync(src, data);
  const sha = createHash('sha256').update(data).digest('hex');
  const dl = join(work, 'bob-downloads');
  const alice = await client('alice');
  const bob = await client('bob', { autoFetchFiles: dl });
  const progress: number[] = [];
  const fileEv = next(bob, 'file');
  const sent = await alice.sendFile({ to: 'bob', path: src, onProgress: (done) => progress.push(done) });
  assert.equal(sent.file.size, data.length);
  assert.equal(sent.file.sha256, sha);
  assert.equal(progress.at(-1), data.length);
  const [f] = (await fileEv) as FileEvent[];
  assert.equal(f.from, 'alice');
  assert.equal(f.name, 'report.bin');
  assert.equal(f.sha256, sha);
  assert.equal(f.path, join(dl, 'report.bin'));
  assert.deepEqual(readFileSync(f.path), data);

  // Fetching it again never overwrites the first copy.
  const again = await bob.fetchFile(f.id, dl);
  assert.equal(again.path, join(dl, 'report (1).bin'));
  assert.deepEqual(readFileSync(again.path), data);
  assert.deepEqual(readdirSync(dl).sort(), ['report (1).bin', 'report.bin']);

  // A hostile name is reduced to its basename.
  const ev2 = next(bob, 'file');
  await alice.sendFile({ to: 'bob', path: src, name: '../../.evil\u0007name.sh' });
  const [f2] = (await ev2) as FileEvent[];
  assert.equal(f2.path, join(dl, 'evilname.sh'));
  alice.close();
  bob.close();
});

test('bad inputs are refused before anything moves', async () => {
  const alice = await client('alice');
  await assert.rejects(alice.dm('nobody', 'hi'), (e: SecureChatError) => e.code === 'unknown_user');
  await assert.rejects(alice.groupSend('no-such-group', 'hi'), (e: SecureChatError) => e.code === 'unknown_group' || e.code === 'not_member');
  const big = join(work, 'big.bin');
  writeFileSync(big, Buffer.alloc(600 * 1024));
  await assert.rejects(alice.sendFile({ to: 'bob', path: big }), (e: SecureChatError) => e.code === 'file_too_large');
  await assert.rejects(alice.sendFile({ to: 'nobody', path: big }), (e: SecureChatError) => e.code === 'unknown_user' || e.code === 'file_too_large');
  await assert.rejects(alice.sendFile({ to: 'bob', path: join(work, 'missing.bin') }), (e: SecureChatError) => e.code === 'io_error' && e.message.includes('missing.bin'));
  alice.close();
});

test('open() loads identity and trust from --certs DIR --user NAME', async () => {
  const chat = await ChatClient.open({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', certs: srv.pki.dir, user: 'alice' });
  open.push(chat);
  const me = await chat.login(TEST_PASSWORD);
  assert.equal(me.username, 'alice');
  chat.close();
});

test('loadClientFiles names the file that is wrong', () => {
  const dir = srv.pki.dir;
  assert.throws(
    () => loadClientFiles({ ca: join(dir, 'root_ca.pem'), cert: join(dir, 'nope_cert.pem'), key: join(dir, 'alice_key.pem') }),
    (e: SecureChatError) => e.code === 'io_error' && e.message.includes('nope_cert.pem'),
  );
  const garbage = join(work, 'garbage.pem');
  writeFileSync(garbage, 'not a pem');
  assert.throws(
    () => loadClientFiles({ ca: join(dir, 'root_ca.pem'), cert: garbage, key: join(dir, 'alice_key.pem') }),
    (e: SecureChatError) => e.code === 'bad_input' && e.message.includes('garbage.pem'),
  );
});
