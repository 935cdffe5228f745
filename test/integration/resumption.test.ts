/**
 * Session resumption against the real chat server (issue 15, docs/PROTOCOL.md §9): a reconnect
 * resumes logged in without a password; every refusal the server must make on a resumption
 * (account disabled, password reset, certificate revoked, ticket reused, no PSK) happens and the
 * client falls back to a full handshake.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { ChatClient, type ChatMessage } from '../../src/client/chat-client.js';
import { SecureChatClient, ticketKey, type ServerIdentity } from '../../src/client/client.js';
import { TicketStore } from '../../src/client/tickets.js';
import type { SecureChatError } from '../../src/errors.js';
import { revokeCertificate } from '../../src/pki/ca.js';
import { startChatServer, TEST_PASSWORD, userIdentity, type TestChatServer } from '../helpers/chat-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let srv: TestChatServer;
let proxy: TcpProxy;
const refusals: SecureChatError[] = [];

before(async () => {
  srv = await startChatServer();
  srv.server.on('handshakeFailed', (err: SecureChatError) => refusals.push(err));
  proxy = new TcpProxy(srv.port);
  await proxy.start();
  for (const u of ['alice', 'bob', 'carol', 'dave', 'eve']) (await srv.login(u)).close();
});

after(async () => {
  await proxy.close();
  await srv.close();
});

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function options(user: string, tickets: TicketStore<ServerIdentity>, port = srv.port) {
  return { host: '127.0.0.1', port, serverName: 'localhost', identity: userIdentity(srv.pki, user), trust: srv.pki.trust, tickets };
}

/** A full handshake and a login; resolves once the login's ticket batch is stored. */
async function loggedInWithTickets(user: string, tickets = new TicketStore<ServerIdentity>()) {
  const conn = await SecureChatClient.connect(options(user, tickets));
  await conn.request('login', { password: TEST_PASSWORD });
  const key = ticketKey(options(user, tickets));
  // The welcome batch (no login) is replaced by the login's batch.
  await until(() => tickets.count(key) === 2 && peekLogin(tickets, key) === user, 'the login ticket batch');
  return { conn, tickets, key };
}

function peekLogin(store: TicketStore<ServerIdentity>, key: string): string | undefined {
  const t = store.take(key);
  if (!t) return undefined;
  const rest: typeof t[] = [];
  for (let x = store.take(key); x; x = store.take(key)) rest.push(x);
  store.replace(key, [t, ...rest]);
  return t.login?.username;
}

function lastRefusal(): SecureChatError | undefined {
  return refusals[refusals.length - 1];
}

test('a dropped connection resumes logged in: no password login, missed messages arrive, the server proves the same identity', async () => {
  const alice = await ChatClient.connect({ ...options('alice', new TicketStore()), reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
  await alice.login(TEST_PASSWORD);
  const tickets = new TicketStore<ServerIdentity>();
  const bob = await ChatClient.connect({ ...options('bob', tickets, proxy.port), reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ackDelayMs: 0 });
  const got: ChatMessage[] = [];
  bob.consume((ev) => {
    if (ev.type === 'message') got.push(ev.message);
  });
  await bob.login(TEST_PASSWORD);
  const key = ticketKey(options('bob', tickets, proxy.port));
  await until(() => tickets.count(key) === 2 && peekLogin(tickets, key) === 'bob', 'tickets carrying the login');
  const firstConnection = bob.connection;
  assert.equal(firstConnection.resumed, false);
  const bobId = (await srv.storage.getUserByName('bob'))!.id;
  const loginsBefore = (await srv.storage.listAudit({ username: 'bob', limit: 1000 })).filter((e) => e.event === 'login_ok').length;

  let reconnected = false;
  bob.on('reconnected', () => (reconnected = true));
  proxy.refuse = true;
  proxy.cut();
  await until(() => bob.reconnecting, 'reconnecting');
  const whileDown = await alice.dm('bob', 'sent while bob was away');
  proxy.refuse = false;
  await until(() => reconnected, 'reconnected');
  assert.equal(bob.connection.resumed, true, 'the reconnect was a resumed handshake');
  assert.deepEqual(bob.connection.resumedLogin, { uuid: bob.user!.uuid, username: 'bob' });
  assert.equal(bob.connection.server.fingerprint, firstConnection.server.fingerprint, 'same server identity');
  await until(() => got.some((m) => m.id === whileDown.id), 'the message sent while down');
  const session = [...srv.server.sessions].find((s) => s.userId === bobId && s.channel.resumed);
  assert.ok(session, 'the server has a resumed, logged-in session for bob');
  // Sends work on the resumed session, and one ticket is left plus a fresh batch arrives.
  assert.ok((await bob.dm('alice', 'hello from a resumed session')).id > 0);
  await until(() => tickets.count(key) === 2, 'a new ticket batch on the resumed session');
  const loginsAfter = (await srv.storage.listAudit({ username: 'bob', limit: 1000 })).filter((e) => e.event === 'login_ok').length;
  assert.equal(loginsAfter, loginsBefore, 'no password login on the reconnect');
  bob.close();
  alice.close();
});

test('a ticket used twice is refused (reused) and the second client falls back to a full handshake', async () => {
  const { conn, tickets, key } = await loggedInWithTickets('carol');
  conn.close();
  const t = tickets.take(key)!;
  const copy = { ...t, ticket: Buffer.from(t.ticket), psk: Buffer.from(t.psk) };
  tickets.replace(key, [t]);
  const first = await SecureChatClient.connect(options('carol', tickets));
  assert.equal(first.resumed, true);
  first.close();
  const again = new TicketStore<ServerIdentity>();
  again.replace(key, [copy]);
  const second = await SecureChatClient.connect(options('carol', again));
  assert.equal(second.resumed, false, 'a full handshake instead');
  assert.equal(lastRefusal()?.code, 'resumption_refused');
  assert.equal(lastRefusal()?.reason, 'reused');
  second.close();
});

test('a client without the resumption secret is refused (bad_binder); a ticket is never offered with another certificate', async () => {
  const { conn, tickets, key } = await loggedInWithTickets('dave');
  conn.close();
  const t = tickets.take(key)!;
  const forged = new TicketStore<ServerIdentity>();
  forged.replace(key, [{ ...t, psk: Buffer.alloc(32, 1) }]);
  const c = await SecureChatClient.connect(options('dave', forged));
  assert.equal(c.resumed, false);
  assert.equal(lastRefusal()?.reason, 'bad_binder');
  c.close();
  // Another user's certificate: the store is keyed by our certificate, so nothing is offered.
  tickets.replace(key, [t]);
  const carol = await SecureChatClient.connect(options('carol', tickets));
  assert.equal(carol.resumed, false);
  assert.equal(tickets.count(key), 1, "dave's ticket was not used for carol");
  carol.close();
});

test('after the account is disabled, or its password reset, a ticket no longer resumes and a full login is required', async () => {
  const reset = await loggedInWithTickets('alice');
  const closed = once(reset.conn, 'close');
  await srv.server.services.accounts.resetPassword('alice', 'another horse battery staple');
  await closed; // the live session ends (credentials_changed)
  const a = await SecureChatClient.connect(options('alice', reset.tickets));
  assert.equal(a.resumed, false);
  assert.equal(lastRefusal()?.reason, 'credentials_changed');
  await assert.rejects(a.request('login', { password: TEST_PASSWORD }), (e: SecureChatError) => e.code === 'auth_failed');
  a.close();

  const dis = await loggedInWithTickets('bob');
  const closedBob = once(dis.conn, 'close');
  await srv.server.services.accounts.setDisabled('bob', true);
  await closedBob;
  const b = await SecureChatClient.connect(options('bob', dis.tickets));
  assert.equal(b.resumed, false);
  assert.equal(lastRefusal()?.reason, 'account_disabled');
  await assert.rejects(b.request('login', { password: TEST_PASSWORD }), (e: SecureChatError) => e.code === 'account_disabled');
  b.close();
});

test('a certificate revoked after the ticket was issued refuses resumption, and the full handshake then refuses the certificate', async () => {
  const { conn, tickets } = await loggedInWithTickets('eve');
  const reloaded = once(srv.server, 'crlReloaded');
  await revokeCertificate({ dir: srv.pki.dir, target: join(srv.pki.dir, 'eve_cert.pem'), reason: 'keyCompromise' });
  await reloaded;
  conn.close();
  await assert.rejects(SecureChatClient.connect(options('eve', tickets)), (e: SecureChatError) => e.code === 'bad_certificate' && e.reason === 'revoked');
  const resumptionRefusal = refusals.find((r) => r.code === 'resumption_refused' && r.reason === 'revoked');
  assert.ok(resumptionRefusal, 'the resumption was refused as revoked before the full handshake');
});
