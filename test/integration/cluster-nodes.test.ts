/**
 * Issue 14: three real `securechat serve` processes on one MariaDB database and this machine's
 * Redis (and the same again on NATS with JetStream). DM and group fan-out across nodes, cluster-wide `who` and presence, a replayed
 * client_hello refused on another node, `user disable` ending a session on another node, a member
 * removed on one node refused on another (cache invalidation), a node that loses the bus still
 * delivering by database catch-up, and a SIGKILLed node's users seen offline within the lease.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SecureChatClient } from '../../src/client/client.js';
import type { SecureChatError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import {
  clientHelloFrame, closedWith, clusterHarness, disposeNamespace, clusterSkip, pushes, rawFirstFrame, TEST_NATS_URL, TEST_REDIS_URL, testNamespace, until, withNamespace,
  type ClusterHarness,
} from '../helpers/cluster.js';
import { createTestDatabase, mysqlSkip, type TestDatabase } from '../helpers/mysql.js';
import type { ServeProcess } from '../helpers/serve-process.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const noMysql = await mysqlSkip();

interface Who {
  users: Array<{ username: string; ip?: string }>;
}

function clusterScenario(busName: 'Redis' | 'NATS', busUrl: string, skip: string | false): void {
  describe(`three nodes on MariaDB + ${busName}`, { skip }, () => {
    let db: TestDatabase;
    let h: ClusterHarness;
    let a: ServeProcess;
    let b: ServeProcess;
    let c: ServeProcess;
    let bus: string;
    let namespace: string;
    /** Node C reaches the bus through this proxy, so the test can take the bus away from it alone. */
    let busProxy: TcpProxy;

    before(async () => {
      db = await createTestDatabase();
      h = await clusterHarness(db.url, ['alice', 'bob', 'carol', 'dave', 'erin']);
      namespace = testNamespace();
      bus = withNamespace(busUrl, namespace);
      busProxy = new TcpProxy(Number(new URL(busUrl).port));
      await busProxy.start();
      const viaProxy = new URL(bus);
      viaProxy.port = String(busProxy.port);
      // The first node migrates the fresh database; the others start once it is ready.
      a = await h.node('A', bus);
      [b, c] = await Promise.all([h.node('B', bus), h.node('C', viaProxy.toString(), { SECURECHAT_CLUSTER_CATCHUP_MS: '1000' })]);
    });
    after(async () => {
      await h?.dispose();
      await busProxy?.close();
      await db?.dispose();
      if (namespace) await disposeNamespace(busUrl, namespace);
    });

    let alice: SecureChatClient;
    let bob: SecureChatClient;
    let carol: SecureChatClient;

    test('a DM from node A reaches its recipient on node B at once, and the reply comes back', async () => {
      alice = await h.login(a, 'alice');
      bob = await h.login(b, 'bob');
      const atBob = pushes<{ text: string; from: string; seq: number }>(bob, 'message');
      const atAlice = pushes<{ text: string; from: string }>(alice, 'message');
      for (let i = 1; i <= 5; i++) await alice.request('dm', { to: 'bob', text: `hello bob ${i}` });
      await atBob.waitFor((m) => m.text === 'hello bob 5', 'the fifth DM');
      assert.deepEqual(atBob.got.map((m) => m.text), [1, 2, 3, 4, 5].map((i) => `hello bob ${i}`), 'in order, each once');
      assert.equal(atBob.got[0].from, 'alice');
      await bob.request('dm', { to: 'alice', text: 'hi alice, from B' });
      assert.equal((await atAlice.waitFor((m) => m.text === 'hi alice, from B', 'the reply')).from, 'bob');
    });

    test('who is cluster-wide; an address is shown only on the caller\'s own sessions', async () => {
      carol = await h.login(c, 'carol');
      const who = await until('alice, bob and carol in who on C', async () => {
        const w = await carol.request<Who>('who');
        const names = w.users.map((u) => u.username);
        return ['alice', 'bob', 'carol'].every((n) => names.includes(n)) ? w : undefined;
      });
      for (const u of who.users) {
        if (u.username === 'carol') assert.equal(typeof u.ip, 'string');
        else assert.equal(u.ip, undefined, `${u.username}'s address must not be shown to carol`);
      }
    });

    test('presence pushes cross nodes: dave logging in on C is announced to alice on A', async () => {
      const atAlice = pushes<{ user: string; status: string }>(alice, 'presence');
      const dave = await h.login(c, 'dave');
      await atAlice.waitFor((p) => p.user === 'dave' && p.status === 'online', 'dave online');
      dave.close();
      await atAlice.waitFor((p) => p.user === 'dave' && p.status === 'offline', 'dave offline');
    });

    test('a group message fans out to members on all three nodes; a member removed on A is refused on B', async () => {
      await alice.request('group_create', { name: 'triad' });
      await alice.request('group_add', { group: 'triad', user: 'bob' });
      await alice.request('group_add', { group: 'triad', user: 'carol' });
      const atBob = pushes<{ text: string; group: string }>(bob, 'message');
      const atCarol = pushes<{ text: string; group: string }>(carol, 'message');
      const atAlice = pushes<{ text: string; group: string }>(alice, 'message');
      await alice.request('group_send', { group: 'triad', text: 'to everyone' });
      assert.equal((await atBob.waitFor((m) => m.text === 'to everyone', 'on B')).group, 'triad');
      await atCarol.waitFor((m) => m.text === 'to everyone', 'on C');
      // Bob posts from B: B's member cache now holds the group.
      await bob.request('group_send', { group: 'triad', text: 'bob here' });
      await atAlice.waitFor((m) => m.text === 'bob here', 'on A');
      await atCarol.waitFor((m) => m.text === 'bob here', 'on C');
      const events = pushes<{ event: string; user: string; by: string }>(bob, 'group_event');
      await alice.request('group_remove', { group: 'triad', user: 'bob' });
      // The group_event crossed the bus too: bob hears who removed him.
      const removed = await events.waitFor((e) => e.event === 'removed' && e.user === 'bob', 'bob removed');
      assert.equal(removed.by, 'alice');
      await assert.rejects(bob.request('group_send', { group: 'triad', text: 'still here?' }), (err: SecureChatError) => err.code === 'not_member');
    });

    test('a client_hello accepted by node A is refused as a replay by node B', async () => {
      const hello = clientHelloFrame();
      assert.equal((await rawFirstFrame(a.port, hello))?.type, 'server_hello');
      const replayed = await rawFirstFrame(b.port, hello);
      assert.equal(replayed?.type, 'error');
      assert.equal(replayed?.code, 'replay');
    });

    test('`securechat user disable` ends the user\'s sessions on every node', async () => {
      const erinB = await h.login(b, 'erin');
      const erinC = await h.login(c, 'erin');
      const closedB = closedWith(erinB);
      const closedC = closedWith(erinC);
      const res = await runCli(['user', 'disable', 'erin', '--db', db.url]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(await closedB, 'account_disabled');
      assert.equal(await closedC, 'account_disabled');
    });

    test('a node cut off from the bus still gets messages to its users (database catch-up), and recovers', async () => {
      const atCarol = pushes<{ text: string }>(carol, 'message');
      busProxy.refuse = true;
      busProxy.cut();
      await until('node C logs the bus outage', async () => /cluster bus down/.test(c.output()));
      await alice.request('dm', { to: 'carol', text: 'while C has no bus' });
      await atCarol.waitFor((m) => m.text === 'while C has no bus', 'delivery by catch-up', 30_000);
      // Its own users are served as usual meanwhile.
      const dave = await h.login(c, 'dave');
      const atDave = pushes<{ text: string }>(dave, 'message');
      await carol.request('dm', { to: 'dave', text: 'local while degraded' });
      await atDave.waitFor((m) => m.text === 'local while degraded', 'local delivery on C');
      busProxy.refuse = false;
      await until('node C is back on the bus', async () => /cluster bus back/.test(c.output()));
      await alice.request('dm', { to: 'carol', text: 'after the bus returned' });
      await atCarol.waitFor((m) => m.text === 'after the bus returned', 'doorbell delivery again');
      assert.equal(atCarol.got.filter((m) => m.text === 'while C has no bus').length, 1, 'shown once');
      dave.close();
    });

    test('a node killed with SIGKILL: the others see its users offline within the lease', async () => {
      const atAlice = pushes<{ user: string; status: string }>(alice, 'presence');
      c.child.kill('SIGKILL');
      await atAlice.waitFor((p) => p.user === 'carol' && p.status === 'offline', 'carol offline after the kill', 30_000);
      const who = await bob.request<Who>('who');
      assert.ok(!who.users.some((u) => u.username === 'carol'), JSON.stringify(who));
      // Messages to carol while her node is gone wait in the database for her next login, on any node.
      await alice.request('dm', { to: 'carol', text: 'while you were away' });
      const again = await h.connect(b, 'carol');
      const got = pushes<{ text: string }>(again, 'message');
      await again.request('login', { password: 'correct horse battery' });
      await got.waitFor((m) => m.text === 'while you were away', 'offline delivery on B');
    });
  });
}

clusterScenario('Redis', TEST_REDIS_URL, noMysql || (await clusterSkip('Redis', TEST_REDIS_URL)));
clusterScenario('NATS', TEST_NATS_URL, noMysql || (await clusterSkip('NATS', TEST_NATS_URL)));
