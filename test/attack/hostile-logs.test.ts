/**
 * Issue 10, "peer text in logs", against the real `securechat serve` process with human (text)
 * console lines: a client that refuses the handshake with an alert whose `reason` holds newlines
 * and ANSI escapes cannot forge a log line or colour one, and a flood of such refusals with a
 * different reason each still costs one summary line per interval (not one line, nor one counter,
 * per distinct reason).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refuseHandshake } from '../../scripts/fuzz/raw-connection.js';
import { RawClient } from '../../scripts/fuzz/raw-client.js';
import { eventually, startServe } from '../helpers/hostile-serve.js';

const FORGED = '2026-01-01T00:00:00.000Z info session started {"user":"alice"}';

test('peer text in logs: an alert reason with newlines and ANSI escapes is escaped; it cannot start a line of its own', async () => {
  const srv = await startServe({ config: { logFormat: 'text', refusalLogIntervalMs: 1000 } });
  try {
    const evil = `x\n${FORGED}\r\n\u001b[2K\u001b[32mlogin ok\u001b[0m\u2028${FORGED}`;
    await refuseHandshake(srv.port, { type: 'error', code: 'bad_certificate', reason: evil, message: `m\n${FORGED}` });
    // After the handshake too: an alert that ends an established session.
    const raw = await RawClient.connect(srv.port, srv.identity('mallory'));
    raw.alert({ type: 'error', code: `internal\n${FORGED}`, reason: evil });
    await raw.closed;
    assert.ok(await eventually(() => /client refused the handshake/.test(srv.output())), srv.output());
    assert.ok(await eventually(() => /session ended/.test(srv.output())), srv.output());
    const out = srv.output();
    const lines = out.split('\n');
    assert.ok(!lines.some((l) => l.startsWith(FORGED) || l.startsWith('\r')), `a forged line:\n${out}`);
    assert.ok(!out.includes('\u001b'), 'no raw ESC reaches the log');
    assert.ok(!out.includes('\u2028'), 'no raw line separator reaches the log');
    const refused = lines.find((l) => l.includes('client refused the handshake'));
    assert.ok(refused?.includes('x\\u000a2026-01-01T00:00:00.000Z info session started'), refused);
    assert.ok(refused?.includes('\\u001b[32mlogin ok'), refused);
  } finally {
    await srv.stop();
  }
});

test('peer text in logs: a flood of refusals with a different reason each is summarised with bounded counters', async () => {
  const srv = await startServe({ config: { logFormat: 'text', refusalLogIntervalMs: 2000, maxHandshakesPerIp: 256 } });
  try {
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 30 }, (_, i) => refuseHandshake(srv.port, { type: 'error', code: 'bad_certificate', reason: `r${batch}-${i}-${'y'.repeat(100)}` })));
    }
    assert.ok(await eventually(() => /more refused connections\/handshakes/.test(srv.output()), 20_000), srv.output().slice(-2000));
    const summary = srv.output().split('\n').find((l) => /more refused connections\/handshakes/.test(l)) ?? '';
    // 300 refusals, 20 logged one by one: the summary counts the other 280 under a bounded set of keys.
    assert.ok(summary.length < 4096, `summary line of ${summary.length} chars`);
    assert.ok(!/r\d+-\d+-y/.test(summary), 'peer reasons are not counter keys');
    const lines = srv.output().split('\n').filter((l) => l.includes('client refused the handshake')).length;
    assert.ok(lines <= 20 * 4, `${lines} one-by-one lines`);
  } finally {
    await srv.stop();
  }
});
