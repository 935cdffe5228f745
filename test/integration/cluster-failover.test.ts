/**
 * Issue 14, clients: a real `securechat chat --json --listen --host A,B` process on node A of a
 * two-node cluster (MariaDB + Redis, then NATS; one cluster secret). Node A is killed with SIGKILL;
 * the chat process goes on with node B by itself — resuming there with the ticket node A issued
 * (B logs the session as resumed) — and shows every message sent before, during and after the
 * failover exactly once, in order.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChatClient } from '../../src/client/chat-client.js';
import { CLUSTER_PASSWORD, clusterHarness, clusterSkip, disposeNamespace, TEST_NATS_URL, TEST_REDIS_URL, testNamespace, until, withNamespace, writeClusterSecret, type ClusterHarness } from '../helpers/cluster.js';
import { userIdentity } from '../helpers/chat-server.js';
import { createTestDatabase, mysqlSkip, type TestDatabase } from '../helpers/mysql.js';
import type { ServeProcess } from '../helpers/serve-process.js';
import { CLI_ENTRY } from '../helpers/tmux.js';

const noMysql = await mysqlSkip();

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function logLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function failoverScenario(busName: 'Redis' | 'NATS', busUrl: string, skip: string | false): void {
  describe(`chat --host A,B fails over when node A is SIGKILLed (MariaDB + ${busName})`, { skip, timeout: 180_000 }, () => {
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
      const bus = withNamespace(busUrl, namespace);
      const env = { SECURECHAT_CLUSTER_SECRET_FILE: secretFile };
      a = await h.node('A', bus, env);
      b = await h.node('B', bus, env);
      for (const u of ['alice', 'bob']) (await h.login(a, u)).close();
    });
    after(async () => {
      await h?.dispose();
      await db?.dispose();
      if (namespace) await disposeNamespace(busUrl, namespace);
    });

    test('the chat process continues on node B, resumed, with nothing lost or shown twice', async () => {
      const passwordFile = join(h.work, 'bob.pass');
      writeFileSync(passwordFile, CLUSTER_PASSWORD, { mode: 0o600 });
      const args = [
        CLI_ENTRY, 'chat', '--host', `127.0.0.1:${a.port},127.0.0.1:${b.port}`, '--server-name', 'localhost',
        '--certs', h.pki.dir, '--user', 'bob', '--password-file', passwordFile, '--json', '--listen', '--download-dir', join(h.work, 'dl'),
      ];
      const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      child.stdin.end();
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
      const messages = () => jsonLines(out.slice(0, out.lastIndexOf('\n') + 1)).filter((l) => l.event === 'message');
      const alice = await ChatClient.connect({ host: '127.0.0.1', port: b.port, serverName: 'localhost', identity: userIdentity(h.pki, 'alice'), trust: h.pki.trust });
      try {
        await alice.login(CLUSTER_PASSWORD);
        await until('bob ready on node A', async () => jsonLines(out).some((l) => l.event === 'ready'), 60_000);
        const aLog = join(h.work, 'A.log');
        await until('bob\'s session on node A', async () => logLines(aLog).some((l) => l.message === 'session started' && l.user === 'bob'));
        const texts: string[] = [];
        const send = async (text: string): Promise<void> => {
          texts.push(text);
          await alice.dm('bob', text);
        };
        for (let i = 1; i <= 5; i++) await send(`before ${i}`);
        await until('the first five at bob', async () => messages().length >= 5);

        a.child.kill('SIGKILL');
        // Sent while bob's process notices the loss and dials node B.
        for (let i = 1; i <= 5; i++) await send(`during ${i}`);
        await until('bob reconnected', async () => jsonLines(out).some((l) => l.event === 'reconnected'), 60_000);
        for (let i = 1; i <= 5; i++) await send(`after ${i}`);
        // Delivery is in order per conversation: a duplicate, were there one, would show before the last.
        await send('last');
        await until('the last message at bob', async () => messages().some((m) => m.text === 'last'), 60_000);
        assert.deepEqual(messages().map((m) => m.text), texts, `each exactly once, in order; stderr: ${err}`);

        const bLog = logLines(join(h.work, 'B.log'));
        assert.ok(
          bLog.some((l) => l.message === 'session started' && l.user === 'bob' && l.resumed === true),
          'node B resumed bob\'s session with the ticket node A issued (shared ticket keys)',
        );
      } finally {
        alice.close();
        child.kill('SIGTERM');
      }
      assert.equal(await exited, 0, err);
    });
  });
}

failoverScenario('Redis', TEST_REDIS_URL, noMysql || (await clusterSkip('Redis', TEST_REDIS_URL)));
failoverScenario('NATS', TEST_NATS_URL, noMysql || (await clusterSkip('NATS', TEST_NATS_URL)));
