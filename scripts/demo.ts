/**
 * `npm run demo`: the whole story, end to end, against a real server on a throwaway PKI and SQLite:
 * register, who, DM, group, file with sha256 check, offline delivery, and a rogue certificate refused.
 * Prints a readable transcript; exits non-zero on any mismatch.
 */
import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatClient, type ChatMessage, type FileEvent } from '../src/client/chat-client.js';
import { SecureChatError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { initCa, issueCertificate } from '../src/pki/ca.js';
import { startServer } from '../src/server/start.js';
import { DEFAULT_CONFIG } from '../src/config.js';

const PASSWORD = { alice: 'purple elephant sunrise', bob: 'quiet harbour lantern' };
let failures = 0;

function step(title: string): void {
  console.log(`\n── ${title}`);
}
function check(ok: boolean, what: string): void {
  console.log(`   ${ok ? '✔' : '✘'} ${what}`);
  if (!ok) failures++;
}
function waitFor<T>(client: ChatClient, event: 'message' | 'file', pred: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const stop = client.consume((ev) => {
      const v = ev.type === 'message' && event === 'message' ? ev.message : ev.type === 'file' && event === 'file' ? ev.file : undefined;
      if (v === undefined || !pred(v as T)) return;
      clearTimeout(timer);
      stop();
      resolve(v as T);
    });
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no matching "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
  });
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'securechat-demo-'));
  const certs = join(work, 'certs');
  const log = createLogger({ console: false, file: join(work, 'server.log') });
  const running = await startServer({ ...DEFAULT_CONFIG, port: 0, certs, db: `sqlite:${join(work, 'chat.db')}`, logFile: join(work, 'server.log') }, log);
  const connect = (user: 'alice' | 'bob', downloads?: string) =>
    ChatClient.open({ host: '127.0.0.1', port: running.port, serverName: 'localhost', certs, user, ...(downloads ? { autoFetchFiles: downloads } : {}) });
  try {
    console.log(`SecureChat demo — server on 127.0.0.1:${running.port}, PKI in ${certs}, SQLite in ${work}`);

    step('alice and bob register (each with their own certificate)');
    const bobDownloads = join(work, 'bob-downloads');
    mkdirSync(bobDownloads);
    const alice = await connect('alice');
    let bob = await connect('bob', bobDownloads);
    const a = await alice.register(PASSWORD.alice);
    const b = await bob.register(PASSWORD.bob);
    check(a.username === 'alice' && b.username === 'bob', `registered alice (${a.uuid}) and bob (${b.uuid})`);

    step('alice lists who is online');
    const online = await alice.who();
    console.log(`   online: ${online.map((u) => `${u.username}@${u.ip}`).join(', ')}`);
    check(online.some((u) => u.username === 'bob'), 'bob is online');

    step('alice → bob: a direct message');
    const gotDm = waitFor<ChatMessage>(bob, 'message', (m) => m.from === 'alice' && m.kind === 'text');
    const sent = await alice.dm('bob', 'Hi Bob! 👋 This travels AES-256-GCM encrypted.');
    const dm = await gotDm;
    console.log(`   bob received #${dm.id}: "${dm.text}"`);
    check(dm.id === sent.id && dm.text.includes('👋'), 'same id and text on both sides');

    step('a group "team": alice creates it, adds bob, and posts');
    await alice.groupCreate('team');
    await alice.groupAdd('team', 'bob');
    const info = await alice.groupInfo('team');
    console.log(`   members: ${info.members.map((m) => `${m.username} (${m.role})`).join(', ')}`);
    const gotGroup = waitFor<ChatMessage>(bob, 'message', (m) => m.group === 'team');
    await alice.groupSend('team', 'Welcome to the team channel.');
    const gm = await gotGroup;
    check(gm.text === 'Welcome to the team channel.' && gm.from === 'alice', `bob got the group message #${gm.id}`);

    step('alice sends bob a file; bob checks its sha256 on arrival');
    const content = randomBytes(3 * 1024 * 1024 + 123);
    const path = join(work, 'report.bin');
    writeFileSync(path, content);
    const expected = createHash('sha256').update(content).digest('hex');
    const gotFile = waitFor<FileEvent>(bob, 'file', (f) => f.name === 'report.bin');
    const fileSent = await alice.sendFile({ to: 'bob', path });
    const arrived = await gotFile;
    const onDisk = createHash('sha256').update(readFileSync(arrived.path)).digest('hex');
    console.log(`   ${arrived.size} bytes saved to ${arrived.path}`);
    check(fileSent.file.sha256 === expected && arrived.sha256 === expected && onDisk === expected, `sha256 ${expected.slice(0, 16)}… matches`);

    step('bob goes offline; alice writes; bob comes back and receives it');
    await bob.idle();
    bob.close();
    await new Promise((r) => setTimeout(r, 100));
    const whileAway = await alice.dm('bob', 'Sent while you were offline.');
    bob = await connect('bob', bobDownloads);
    const gotOffline = waitFor<ChatMessage>(bob, 'message', (m) => m.id === whileAway.id);
    await bob.login(PASSWORD.bob);
    const offline = await gotOffline;
    check(offline.text === 'Sent while you were offline.', `bob received #${offline.id} after logging back in`);
    await bob.idle();

    step('a client with a certificate from a rogue CA is refused');
    const rogue = join(work, 'rogue');
    await initCa({ dir: rogue, name: 'Rogue Root CA', unencrypted: true });
    await issueCertificate({ dir: rogue, kind: 'client', name: 'alice' });
    try {
      const impostor = await ChatClient.open({ host: '127.0.0.1', port: running.port, serverName: 'localhost', ca: join(certs, 'root_ca.pem'), cert: join(rogue, 'alice_cert.pem'), key: join(rogue, 'alice_key.pem') });
      impostor.close();
      check(false, 'the rogue client was refused');
    } catch (err) {
      const e = err as SecureChatError;
      console.log(`   [Client] Server rejected certificate – closing connection (${e.reason ?? e.code})`);
      check(e.code === 'bad_certificate' && e.reason === 'untrusted', 'refused with bad_certificate (untrusted)');
    }

    alice.close();
    bob.close();
  } finally {
    await running.stop();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(failures === 0 ? '\nDemo passed: every step behaved.' : `\nDemo FAILED: ${failures} step(s) did not behave.`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('demo failed:', err);
    process.exit(1);
  },
);
