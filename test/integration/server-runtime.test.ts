/**
 * The server as it runs for real: two separate processes (serve + chat) completing a handshake,
 * certificates generated on first start, graceful shutdown on SIGTERM, the CRL reloaded without a
 * restart, and keepalive / idle timeout.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { SecureChatClient } from '../../src/client/client.js';
import type { SecureChatError } from '../../src/errors.js';
import { revokeCertificate } from '../../src/pki/ca.js';
import { clientHandshake } from '../../src/protocol/index.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { startChatServer, userIdentity } from '../helpers/chat-server.js';

const work = mkdtempSync(join(tmpdir(), 'securechat-runtime-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('serve (own process) generates certificates on first start; chat (another process) completes a handshake; SIGTERM stops it cleanly', async () => {
  const certs = join(work, 'certs');
  const server = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src/cli/index.ts'), 'serve', '--port', '0', '--certs', certs, '--db', `sqlite:${join(work, 'chat.db')}`, '--log-file', join(work, 'server.log')],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 60_000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
  });
  try {
    assert.match(output, /No CA found/);
    for (const f of ['root_ca.pem', 'server_cert.pem', 'alice_cert.pem', 'crl.pem']) assert.ok(existsSync(join(certs, f)), f);
    assert.equal(statSync(join(certs, 'server_key.pem')).mode & 0o777, 0o600);

    const chat = await runCli(['chat', '--certs', certs, '--user', 'alice', '--port', String(port), '--server-name', 'localhost', '--register', '--json'], {
      input: '/who\n',
      env: { SECURECHAT_PASSWORD: 'correct horse battery' },
    });
    assert.equal(chat.code, 0, chat.stderr + chat.stdout);
    const events = chat.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(events[0].event, 'ready');
    const who = events.find((e) => e.command === '/who');
    assert.equal(who?.ok, true);
    assert.ok(JSON.stringify(who).includes('"alice"'));
  } finally {
    server.kill('SIGTERM');
  }
  const [code] = (await once(server, 'exit')) as [number | null];
  assert.equal(code, 0, output);
  assert.match(output, /SIGTERM received/);
  // The JSON log file has lines and no secret.
  const log = readFileSync(join(work, 'server.log'), 'utf8');
  assert.ok(log.split('\n').filter(Boolean).every((l) => JSON.parse(l) && !l.includes('correct horse battery')));
  assert.match(log, /session started/);
});

test('a certificate revoked while the server runs is refused without a restart, and its live session is closed (CRL reloaded)', async () => {
  const chat = await startChatServer();
  try {
    const live = await chat.connect('eve');
    const liveClosed = once(live, 'close');
    const reloaded = once(chat.server, 'crlReloaded');
    await revokeCertificate({ dir: chat.pki.dir, target: join(chat.pki.dir, 'eve_cert.pem'), reason: 'keyCompromise' });
    const [closedSessions] = (await reloaded) as [number];
    assert.equal(closedSessions, 1, 'the revoked certificate\'s live session is closed');
    const [liveErr] = (await liveClosed) as [SecureChatError | undefined];
    assert.equal(liveErr?.code, 'bad_certificate');
    assert.equal(liveErr?.reason, 'revoked');
    await assert.rejects(chat.connect('eve'), (err: SecureChatError) => err.code === 'bad_certificate' && err.reason === 'revoked');
    (await chat.connect('alice')).close();

    // A garbage CRL file does not un-revoke anyone: the previous CRL stays in force.
    writeFileSync(join(chat.pki.dir, 'crl.pem'), 'not a crl');
    await new Promise((r) => setTimeout(r, 1200));
    await assert.rejects(chat.connect('eve'), (err: SecureChatError) => err.reason === 'revoked');
  } finally {
    await chat.close();
  }
});

test('keepalive: a client that answers pings stays; one that does not is closed with idle_timeout', async () => {
  const chat = await startChatServer({ limits: { pingIntervalMs: 100, idleTimeoutMs: 400 } });
  try {
    const polite = await chat.connect('alice');
    const socket = net.connect(chat.port, '127.0.0.1');
    await once(socket, 'connect');
    const silent = await clientHandshake(socket, {
      identity: userIdentity(chat.pki, 'bob'),
      verifyPeer: (chain) => chat.pki.trust.verifyDer(chain, { purpose: 'server', hostname: 'localhost' }),
    });
    // The raw channel never answers pings (nothing listens for them).
    const [err] = (await once(silent, 'close')) as [SecureChatError | undefined];
    assert.equal(err?.code, 'idle_timeout');
    assert.equal(polite.closed, false, 'the client that answers pings is still connected');
    polite.close();
  } finally {
    await chat.close();
  }
});

test('the client refuses a server whose certificate does not name the host it dialled', async () => {
  const chat = await startChatServer();
  try {
    const attempt = SecureChatClient.connect({ host: '127.0.0.1', port: chat.port, identity: userIdentity(chat.pki, 'alice'), trust: chat.pki.trust, serverName: 'chat.example.org' });
    await assert.rejects(attempt, (err: SecureChatError) => err.code === 'bad_certificate' && err.reason === 'name_mismatch');
    // Dialling by IP works: 127.0.0.1 is one of the server's SANs.
    (await SecureChatClient.connect({ host: '127.0.0.1', port: chat.port, identity: userIdentity(chat.pki, 'alice'), trust: chat.pki.trust })).close();
  } finally {
    await chat.close();
  }
});
