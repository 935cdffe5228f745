/** The client's server list (`--host a:5000,b`) and the failover dial order (client/failover.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterTicketScope, endpointName, FailoverDialer, MAX_SERVERS, parseServerList, type Endpoint } from '../../src/client/failover.js';
import { SecureChatError } from '../../src/errors.js';

test('a server list: host[:port] entries, the default port, bracketed and bare IPv6, bounded, no duplicates', () => {
  assert.deepEqual(parseServerList('127.0.0.1', 5000), [{ host: '127.0.0.1', port: 5000 }]);
  assert.deepEqual(parseServerList('a:5001, b ,[::1]:5003,::1', 5000), [
    { host: 'a', port: 5001 },
    { host: 'b', port: 5000 },
    { host: '::1', port: 5003 },
    { host: '::1', port: 5000 },
  ]);
  assert.equal(endpointName({ host: '::1', port: 5003 }), '[::1]:5003');
  for (const bad of ['a:0', 'a:70000', 'a:x', 'a,,b', ':5000', 'a:5000,a:5000', Array(MAX_SERVERS + 1).fill(0).map((_, i) => `h${i}`).join(',')]) {
    assert.throws(() => parseServerList(bad, 5000), (err: SecureChatError) => err.code === 'usage', bad);
  }
  assert.equal(clusterTicketScope([{ host: 'a', port: 1 }]), undefined, 'one server keeps the default scope');
  assert.equal(clusterTicketScope([{ host: 'a', port: 1 }, { host: 'b', port: 2 }]), 'cluster(a:1,b:2)');
});

test('failover: the node that worked last first, then the others in order; a final refusal stops at once', async () => {
  const nodes: Endpoint[] = [{ host: 'a', port: 1 }, { host: 'b', port: 2 }, { host: 'c', port: 3 }];
  const down = new Set<string>();
  const tried: string[] = [];
  let finalOn: string | null = null;
  const dialer = new FailoverDialer(nodes, async (ep) => {
    tried.push(ep.host);
    if (finalOn === ep.host) throw new SecureChatError('bad_certificate', undefined, { reason: 'revoked' });
    if (down.has(ep.host)) throw new SecureChatError('connect_failed');
    return ep.host;
  });
  assert.equal(await dialer.dial(), 'a');
  down.add('a');
  assert.equal(await dialer.dial(), 'b');
  assert.deepEqual(tried, ['a', 'a', 'b']);
  down.delete('a');
  tried.length = 0;
  assert.equal(await dialer.dial(), 'b', 'sticks to the node that works');
  down.add('b');
  assert.equal(await dialer.dial(), 'c');
  assert.equal(dialer.current.host, 'c');
  down.add('c');
  down.add('a');
  tried.length = 0;
  await assert.rejects(dialer.dial(), (err: SecureChatError) => err.code === 'connect_failed');
  assert.deepEqual(tried, ['c', 'a', 'b'], 'every node once per attempt');
  down.clear();
  finalOn = 'c';
  tried.length = 0;
  await assert.rejects(dialer.dial(), (err: SecureChatError) => err.code === 'bad_certificate');
  assert.deepEqual(tried, ['c'], 'a refusal any node would repeat is not shopped around');
});
