/**
 * Issues 14/15: session-ticket keys shared by the nodes of a cluster (cluster/ticket-keys.ts), with
 * two real `securechat serve` processes on one MariaDB database and Redis, then NATS, both given
 * the same 0600 cluster secret file: a ticket from node A resumes on node B (logged in, no
 * password), a ticket spent on one node is refused on the other (single use cluster-wide), and a
 * key rotated on A (rotation shortened to a few seconds) is the one B opens, while the previous key
 * still opens the tickets it sealed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SecureChatClient, ticketKey, type ClientOptions, type ServerIdentity } from '../../src/client/client.js';
import { TicketStore, type StoredTicket } from '../../src/client/tickets.js';
import type { Logger } from '../../src/log.js';
import { CLUSTER_PASSWORD, clusterHarness, clusterSkip, disposeNamespace, TEST_NATS_URL, TEST_REDIS_URL, testNamespace, until, withNamespace, writeClusterSecret, type ClusterHarness } from '../helpers/cluster.js';
import { userIdentity } from '../helpers/chat-server.js';
import { createTestDatabase, mysqlSkip, type TestDatabase } from '../helpers/mysql.js';
import type { ServeProcess } from '../helpers/serve-process.js';

const noMysql = await mysqlSkip();
const ROTATION_MS = 5000;

/** Collects the client's "resumption failed" lines: the refusal reason the server gave. */
function refusalLog(): { log: Logger; reasons: string[] } {
  const reasons: string[] = [];
  const log = {
    info: (_msg: string, meta?: { reason?: string }) => {
      if (meta?.reason) reasons.push(meta.reason);
    },
    debug: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  (log as unknown as { child: () => unknown }).child = () => log;
  return { log: log as unknown as Logger, reasons };
}

function keyIdOf(t: StoredTicket<ServerIdentity>): string {
  return t.ticket.subarray(1, 9).toString('hex');
}

function copyOf(t: StoredTicket<ServerIdentity>): StoredTicket<ServerIdentity> {
  return { ...t, ticket: Buffer.from(t.ticket), psk: Buffer.from(t.psk) };
}

function ticketScenario(busName: 'Redis' | 'NATS', busUrl: string, skip: string | false): void {
  describe(`shared ticket keys: two nodes on MariaDB + ${busName}`, { skip, timeout: 180_000 }, () => {
    let db: TestDatabase;
    let h: ClusterHarness;
    let a: ServeProcess;
    let b: ServeProcess;
    let namespace: string;

    before(async () => {
      db = await createTestDatabase();
      h = await clusterHarness(db.url, ['alice', 'bob']);
      namespace = testNamespace();
      const secretFile = writeClusterSecret(h.work);
      const env = { SECURECHAT_CLUSTER_SECRET_FILE: secretFile, SECURECHAT_TICKET_KEY_ROTATION_MS: String(ROTATION_MS) };
      const bus = withNamespace(busUrl, namespace);
      a = await h.node('A', bus, env);
      b = await h.node('B', bus, env);
      // Both users exist (registered on A).
      for (const u of ['alice', 'bob']) (await h.login(a, u)).close();
    });
    after(async () => {
      await h?.dispose();
      await db?.dispose();
      if (namespace) await disposeNamespace(busUrl, namespace);
    });

    /** Options for `node`, tickets scoped to the cluster (both nodes). */
    function opts(node: ServeProcess, user: string, tickets: TicketStore<ServerIdentity>, log?: Logger): ClientOptions {
      return {
        host: '127.0.0.1', port: node.port, serverName: 'localhost', identity: userIdentity(h.pki, user), trust: h.pki.trust, tickets, ticketScope: 'the-cluster',
        ...(log ? { log } : {}),
      };
    }

    /** A full handshake and a login on `node`; resolves once the login's batch of tickets is stored. */
    async function loggedIn(node: ServeProcess, user: string) {
      const tickets = new TicketStore<ServerIdentity>();
      const conn = await SecureChatClient.connect(opts(node, user, tickets));
      await conn.request('login', { password: CLUSTER_PASSWORD });
      const key = ticketKey(opts(node, user, tickets));
      await until('the login ticket batch', async () => {
        const t = tickets.take(key);
        if (!t) return false;
        const rest: StoredTicket<ServerIdentity>[] = [];
        for (let x = tickets.take(key); x; x = tickets.take(key)) rest.push(x);
        tickets.replace(key, [t, ...rest]);
        return t.login?.username === user && rest.length === 1;
      });
      return { conn, tickets, key };
    }

    test('a ticket issued by node A resumes on node B, logged in', async () => {
      const { conn, tickets } = await loggedIn(a, 'alice');
      conn.close();
      const onB = await SecureChatClient.connect(opts(b, 'alice', tickets));
      assert.equal(onB.resumed, true, 'a resumed handshake on the other node');
      assert.deepEqual(onB.resumedLogin?.username, 'alice');
      // Logged in without a password: a request that needs a login works.
      const who = await onB.request<{ users: Array<{ username: string }> }>('who');
      assert.ok(who.users.some((u) => u.username === 'alice'));
      onB.close();
    });

    test('a ticket spent on node A is refused on node B (single use across nodes)', async () => {
      const { conn, tickets, key } = await loggedIn(a, 'bob');
      conn.close();
      const t = tickets.take(key)!;
      const copy = copyOf(t);
      tickets.replace(key, [t]);
      const first = await SecureChatClient.connect(opts(a, 'bob', tickets));
      assert.equal(first.resumed, true);
      first.close();
      const again = new TicketStore<ServerIdentity>();
      again.replace(key, [copy]);
      const { log, reasons } = refusalLog();
      const second = await SecureChatClient.connect(opts(b, 'bob', again, log));
      assert.equal(second.resumed, false, 'a full handshake instead');
      assert.deepEqual(reasons, ['reused']);
      second.close();
    });

    test('a key rotated on node A is the one node B opens; the previous key still opens its tickets', async () => {
      const first = await loggedIn(a, 'alice');
      first.conn.close();
      const old = first.tickets.take(first.key)!;
      const oldKeyId = keyIdOf(old);
      // Resume on A again and again (each resumed session brings a fresh batch) until A seals with the next key.
      let tickets = first.tickets;
      const fresh = await until(
        'a ticket sealed with the next key on A',
        async () => {
          const conn = await SecureChatClient.connect(opts(a, 'alice', tickets));
          assert.equal(conn.resumed, true);
          const next = new TicketStore<ServerIdentity>();
          const key = ticketKey(opts(a, 'alice', tickets));
          await until('the resumed session\'s batch', async () => tickets.count(key) === 2);
          const t = tickets.take(key)!;
          next.replace(key, [tickets.take(key)!]);
          conn.close();
          tickets = next;
          if (keyIdOf(t) !== oldKeyId) return t;
          await new Promise((r) => setTimeout(r, 500));
          return false;
        },
        60_000,
      );
      const key = ticketKey(opts(b, 'alice', tickets));
      const store = new TicketStore<ServerIdentity>();
      store.replace(key, [fresh]);
      const onB = await SecureChatClient.connect(opts(b, 'alice', store));
      assert.equal(onB.resumed, true, 'node B opens a ticket sealed with the key A rotated to');
      onB.close();
      store.replace(key, [old]);
      const oldOnB = await SecureChatClient.connect(opts(b, 'alice', store));
      assert.equal(oldOnB.resumed, true, 'the previous key still opens a ticket sealed before the rotation');
      oldOnB.close();
    });
  });
}

ticketScenario('Redis', TEST_REDIS_URL, noMysql || (await clusterSkip('Redis', TEST_REDIS_URL)));
ticketScenario('NATS', TEST_NATS_URL, noMysql || (await clusterSkip('NATS', TEST_NATS_URL)));
