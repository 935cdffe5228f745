/**
 * Resumption at the protocol layer (docs/PROTOCOL.md §9) over in-memory duplex pairs: tickets from
 * a full handshake, a resumed handshake with a fresh X25519 exchange, and the attacks of issue 15
 * that live at this layer (reuse, tampering, wrong key, expiry, missing PSK, downgrade).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { clientHandshake, serverHandshake, ReplayGuard, type AppMessage, type SecureChannel } from '../../src/protocol/index.js';
import { sha256 } from '../../src/protocol/keys.js';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js';
import { parseJsonObject } from '../../src/protocol/messages.js';
import { parseSessionTickets, sessionTicketsMessage } from '../../src/protocol/resumption.js';
import { TicketKeyRing, TicketService, openTicket, sealTicket, type TicketLogin } from '../../src/server/tickets.js';
import { inspect } from 'node:util';
import { SecureChatError } from '../../src/errors.js';
import { duplexPair, expectLeaf, identities, rejection } from '../helpers/protocol-fixtures.js';

const ids = await identities();

interface Peer {
  name: string;
  resumedLogin?: TicketLogin | null;
}

const LOGIN: TicketLogin = { userId: 7, uuid: 'u-7', username: 'alice', credentialVersion: 3 };

function makeService(opts: { now?: () => number; checkLogin?: (l: TicketLogin) => Promise<void>; verifyPath?: (p: Buffer[]) => Peer } = {}) {
  const verify = expectLeaf(ids.client);
  return new TicketService<Peer>({
    lifetimeMs: 3600_000,
    rotationMs: 3600_000,
    perBatch: 2,
    ...(opts.now ? { now: opts.now } : {}),
    verifyPath: opts.verifyPath ?? ((path) => ({ name: verify(path) })),
    notAfterOf: () => Date.now() + 86_400_000,
    ...(opts.checkLogin ? { checkLogin: opts.checkLogin } : {}),
  });
}

const guard = new ReplayGuard();

interface Issued {
  tickets: { ticket: Buffer; psk: Buffer }[];
  server: SecureChannel<Peer>;
  client: SecureChannel<string>;
}

/** Full handshake, then the server pushes a ticket batch and the client derives the PSKs. */
async function fullAndTickets(service: TicketService<Peer>, login: TicketLogin | null = LOGIN): Promise<Issued> {
  const [s, c] = duplexPair();
  const [server, client] = await Promise.all([
    serverHandshake<Peer>(s, { identity: ids.server, verifyPeer: (chain) => ({ name: expectLeaf(ids.client)(chain) }), replayGuard: guard, sessionId: 'full', resumption: service.acceptor() }),
    clientHandshake<string>(c, { identity: ids.client, verifyPeer: expectLeaf(ids.server) }),
  ]);
  const batch = service.issue(server, ids.client.chain, login, server.peer);
  assert.ok(batch);
  const got = once(client, 'message') as Promise<[AppMessage]>;
  server.send(sessionTicketsMessage(batch));
  const [msg] = await got;
  const parsed = parseSessionTickets(msg);
  assert.equal(parsed.tickets.length, 2);
  assert.deepEqual(parsed.login, login ? { uuid: login.uuid, username: login.username } : null);
  return { tickets: parsed.tickets.map((t) => ({ ticket: t.ticket, psk: client.ticketPsk(t.nonce) })), server, client };
}

const serverCertSha256 = sha256(ids.server.chain[0]);

function resume(service: TicketService<Peer>, offer: { ticket: Buffer; psk: Buffer }, o: { serverCert?: Buffer; wire?: (c: Duplex, s: Duplex) => void; timeoutMs?: number } = {}) {
  const [s, c] = duplexPair();
  o.wire?.(c, s);
  const server = serverHandshake<Peer>(s, { timeoutMs: o.timeoutMs ?? 10_000, identity: ids.server, verifyPeer: () => assert.fail('no certificate on resumption'), replayGuard: guard, sessionId: 'resumed', resumption: service.acceptor() });
  const client = clientHandshake<string>(c, {
    timeoutMs: o.timeoutMs ?? 10_000,
    identity: ids.client,
    verifyPeer: () => assert.fail('no certificate on resumption'),
    resume: { ticket: offer.ticket, psk: offer.psk, serverCertSha256: o.serverCert ?? serverCertSha256, peer: 'server.test' },
  });
  return { server, client };
}

test('a ticket from a full handshake resumes: no certificates, the login carried over, records both ways, new tickets', async () => {
  const service = makeService();
  const { tickets } = await fullAndTickets(service);
  const { server, client } = resume(service, tickets[0]);
  const [sc, cc] = await Promise.all([server, client]);
  assert.equal(sc.resumed, true);
  assert.equal(cc.resumed, true);
  assert.deepEqual(sc.peer, { name: 'alice', resumedLogin: LOGIN });
  assert.equal(cc.peer, 'server.test');
  const got = once(sc, 'message') as Promise<[AppMessage]>;
  cc.send({ type: 'dm', text: 'after resumption' });
  assert.deepEqual((await got)[0], { type: 'dm', text: 'after resumption' });
  // A resumed session issues tickets of its own (chained resumption).
  const again = service.issue(sc, ids.client.chain, LOGIN, sc.peer);
  assert.ok(again);
  const back = once(cc, 'message') as Promise<[AppMessage]>;
  sc.send(sessionTicketsMessage(again));
  const next = parseSessionTickets((await back)[0]).tickets[0];
  const r2 = resume(service, { ticket: next.ticket, psk: cc.ticketPsk(next.nonce) });
  const [sc2] = await Promise.all([r2.server, r2.client]);
  assert.equal(sc2.peer.name, 'alice');
});

test('single use: the same ticket a second time is refused (reused), even with the right PSK', async () => {
  const service = makeService();
  const { tickets } = await fullAndTickets(service);
  const first = resume(service, tickets[0]);
  await Promise.all([first.server, first.client]);
  const second = resume(service, tickets[0]);
  const [se, ce] = await Promise.all([rejection(second.server), rejection(second.client)]);
  assert.equal(se.code, 'resumption_refused');
  assert.equal(se.reason, 'reused');
  assert.equal(ce.code, 'resumption_refused', 'the client learns the code (plaintext error before keys)');
  assert.equal(ce.reason, 'reused');
  // The other ticket of the batch is still good.
  const other = resume(service, tickets[1]);
  await Promise.all([other.server, other.client]);
});

test('a replayed resumed client_hello is refused (nonce guard), and a copy of the hello alone yields no keys', async () => {
  const service = makeService();
  const { tickets } = await fullAndTickets(service);
  let hello: Buffer | undefined;
  const first = resume(service, tickets[0], {
    wire: (c) => {
      const write = c.write.bind(c);
      c.write = ((chunk: Buffer, ...rest: never[]) => {
        hello ??= Buffer.from(chunk);
        return write(chunk, ...rest);
      }) as typeof c.write;
    },
  });
  await Promise.all([first.server, first.client]);
  assert.ok(hello);
  // The attacker sends the captured hello bytes again.
  const [s, attacker] = duplexPair();
  const server = serverHandshake<Peer>(s, { identity: ids.server, verifyPeer: () => assert.fail(), replayGuard: guard, sessionId: 'x', resumption: service.acceptor() });
  attacker.write(hello);
  const err = await rejection(server);
  assert.equal(err.code, 'replay');
  // With a fresh replay guard the used-ticket set still refuses it.
  const [s2, attacker2] = duplexPair();
  const server2 = serverHandshake<Peer>(s2, { identity: ids.server, verifyPeer: () => assert.fail(), replayGuard: new ReplayGuard(), sessionId: 'y', resumption: service.acceptor() });
  attacker2.write(hello);
  assert.equal((await rejection(server2)).reason, 'reused');
});

test('a tampered ticket, a tampered binder, a client without the PSK and a ticket of another server key are refused', async () => {
  const service = makeService();
  const { tickets } = await fullAndTickets(service);
  const tampered = Buffer.from(tickets[0].ticket);
  tampered[tampered.length - 20] ^= 1;
  const a = resume(service, { ticket: tampered, psk: tickets[0].psk });
  assert.equal((await rejection(a.server)).reason, 'bad_ticket');
  await rejection(a.client);

  // A client without the resumption secret (it saw the ticket, e.g. on the wire, but not the PSK).
  const b = resume(service, { ticket: tickets[0].ticket, psk: Buffer.alloc(32, 9) });
  assert.equal((await rejection(b.server)).reason, 'bad_binder');
  await rejection(b.client);

  // The binder covers the hello: flip one byte of the nonce in flight.
  const c = resume(service, tickets[0], {
    wire: (client) => {
      const write = client.write.bind(client);
      let first = true;
      client.write = ((chunk: Buffer, ...rest: never[]) => {
        if (first) {
          first = false;
          const text = chunk.toString('latin1').replace('"timestamp":1', '"timestamp":2');
          return write(Buffer.from(text, 'latin1'), ...rest);
        }
        return write(chunk, ...rest);
      }) as typeof client.write;
    },
  });
  const ce = await rejection(c.server);
  assert.ok(ce.reason === 'bad_binder' || ce.code === 'clock_skew', `${ce.code}/${ce.reason}`);
  await rejection(c.client);

  // Another server (its own ticket keys) cannot open it.
  const d = resume(makeService(), tickets[1]);
  assert.equal((await rejection(d.server)).reason, 'unknown_key');
  await rejection(d.client);
});

test('an expired ticket is refused', async () => {
  let now = Date.now();
  const service = makeService({ now: () => now });
  const { tickets } = await fullAndTickets(service);
  now += 3600_000 + 1; // one lifetime later
  const a = resume(service, tickets[0]);
  assert.equal((await rejection(a.server)).reason, 'expired');
  assert.equal((await rejection(a.client)).reason, 'expired');
});

test('ticket keys rotate; the previous key still opens tickets for one lifetime, then is gone', () => {
  let now = 1_000_000;
  const ring = new TicketKeyRing({ rotationMs: 3600_000, lifetimeMs: 7200_000, now: () => now });
  const k1 = ring.current();
  assert.equal(ring.current(), k1, 'no rotation before it is due');
  const state = { psk: Buffer.alloc(32, 1), issuedAt: now, expiresAt: now + 7200_000, path: [Buffer.from('leaf')], login: null };
  now += 3600_000 - 1;
  const sealed = sealTicket(k1, state);
  now += 1;
  const k2 = ring.current();
  assert.notDeepEqual(k2.id, k1.id, 'a new key after rotationMs');
  assert.deepEqual(openTicket(ring, sealed).path, [Buffer.from('leaf')], 'the previous key still opens');
  now += 7200_000 - 1;
  assert.ok(ring.find(k1.id), 'kept for one lifetime after retirement');
  now += 1;
  assert.equal(ring.find(k1.id), undefined);
  assert.throws(() => openTicket(ring, sealed), (e: SecureChatError) => e.reason === 'unknown_key');
  assert.equal(JSON.stringify({ ring }), '{"ring":"[redacted ticket keys]"}', 'keys never serialise');
  assert.doesNotMatch(inspect(ring), new RegExp(k2.key.toString('hex').slice(0, 8)));
});

test('a revoked certificate or a disabled account after issue refuses resumption with its reason', async () => {
  let revoked = false;
  const service = makeService({
    verifyPath: (path) => {
      if (revoked) throw new SecureChatError('bad_certificate', undefined, { reason: 'revoked' });
      return { name: expectLeaf(ids.client)(path) };
    },
    checkLogin: (login) =>
      login.credentialVersion === 3 ? Promise.resolve() : Promise.reject(new SecureChatError('resumption_refused', undefined, { reason: 'account_disabled' })),
  });
  const { tickets } = await fullAndTickets(service);
  revoked = true;
  const a = resume(service, tickets[0]);
  assert.equal((await rejection(a.server)).reason, 'revoked');
  assert.equal((await rejection(a.client)).reason, 'revoked');
  revoked = false;
  const other = await fullAndTickets(service, { ...LOGIN, credentialVersion: 2 });
  const b = resume(service, other.tickets[0]);
  assert.equal((await rejection(b.server)).reason, 'account_disabled');
  assert.equal((await rejection(b.client)).reason, 'account_disabled');
});

/** A man in the middle between client and server that can rewrite the server's first frames. */
function mitm(rewrite: (frame: Buffer, index: number) => Buffer[]): { wire: (c: Duplex, s: Duplex) => void } {
  return {
    wire: (_c, s) => {
      const decoder = new FrameDecoder(1 << 20);
      let i = 0;
      const write = s.write.bind(s);
      s.write = ((chunk: Buffer, ...rest: never[]) => {
        const out = decoder.push(Buffer.from(chunk)).flatMap((f) => rewrite(f, i++)).map((f) => encodeFrame(f));
        return write(Buffer.concat(out), ...rest);
      }) as typeof s.write;
    },
  };
}

test('downgrade: a server_hello that does not accept the PSK, or a missing server_finished, never yields a channel', async () => {
  const service = makeService();
  const { tickets } = await fullAndTickets(service);
  const stripped = resume(
    service,
    tickets[0],
    mitm((f, i) => {
      if (i !== 0) return [f];
      const o = parseJsonObject(f, 1 << 14);
      delete o.psk;
      return [Buffer.from(JSON.stringify(o))];
    }),
  );
  const ce = await rejection(stripped.client);
  assert.equal(ce.reason, 'psk_not_accepted');
  await rejection(stripped.server);

  const dropped = resume(service, tickets[1], { ...mitm((f, i) => (i === 1 ? [] : [f])), timeoutMs: 500 });
  const [dc] = await Promise.all([rejection(dropped.client), rejection(dropped.server)]);
  // The server's timeout alert is sealed at s_hs sequence 1, after the dropped record: bad_record.
  assert.ok(['handshake_timeout', 'bad_record'].includes(dc.code), `without server_finished the client never gets a channel (${dc.code})`);
});

test('the client refuses a resumption proved under another server certificate (server_changed)', async () => {
  const service = makeService();
  const { tickets } = await fullAndTickets(service);
  const r = resume(service, tickets[0], { serverCert: sha256(ids.other.chain[0]) });
  assert.equal((await rejection(r.client)).reason, 'server_changed');
  await rejection(r.server);
});

test('forward secrecy: every resumption runs a fresh X25519 exchange on both sides', async () => {
  const service = makeService();
  const { tickets } = await fullAndTickets(service);
  const shares: string[] = [];
  const capture = {
    wire: (c: Duplex, s: Duplex) => {
      for (const end of [c, s]) {
        const write = end.write.bind(end);
        let first = true;
        end.write = ((chunk: Buffer, ...rest: never[]) => {
          if (first) {
            first = false;
            const hello = Buffer.from(chunk).subarray(4);
            const end2 = hello.indexOf(0x7d, hello.indexOf('key_share'));
            shares.push(hello.subarray(hello.indexOf('key_share'), end2).toString('latin1').slice(0, 60));
          }
          return write(chunk, ...rest);
        }) as typeof end.write;
      }
    },
  };
  for (const t of tickets) {
    const r = resume(service, t, capture);
    await Promise.all([r.server, r.client]);
  }
  assert.equal(shares.length, 4);
  assert.equal(new Set(shares).size, 4, 'no key share repeats');
});

test('a server without resumption refuses a ticket hello with reason disabled', async () => {
  const service = makeService();
  const { tickets } = await fullAndTickets(service);
  const [s, c] = duplexPair();
  const server = serverHandshake<Peer>(s, { identity: ids.server, verifyPeer: () => assert.fail(), replayGuard: guard, sessionId: 'n' });
  const client = clientHandshake<string>(c, { identity: ids.client, verifyPeer: () => 'x', resume: { ...tickets[0], serverCertSha256, peer: 'x' } });
  assert.equal((await rejection(server)).reason, 'disabled');
  assert.equal((await rejection(client)).reason, 'disabled');
});
