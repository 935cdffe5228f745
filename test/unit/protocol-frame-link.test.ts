/**
 * The browser's WebSocket framing (protocol/frame-link.ts), driven through a minimal socket object
 * with the DOM WebSocket's shape: one message = one frame, refusals close with a readable code,
 * and frames nobody reads yet are bounded in bytes (slow_reader past the bound).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatBytes, u32be } from '../../src/protocol/bytes.js';
import { DEFAULT_MAX_QUEUED_BYTES, WebSocketFrameLink, type BrowserSocket } from '../../src/protocol/frame-link.js';

class FakeSocket implements BrowserSocket {
  binaryType = 'blob';
  readyState = 1;
  sent: Uint8Array[] = [];
  closedWith: { code?: number; reason?: string } | undefined;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }
  deliver(bytes: Uint8Array | string): void {
    this.onmessage?.({ data: typeof bytes === 'string' ? bytes : bytes.slice().buffer });
  }
}

const frame = (payload: Uint8Array): Uint8Array => concatBytes(u32be(payload.length), payload);

test('one binary message is one frame; payloads come out in order, header stripped', async () => {
  const ws = new FakeSocket();
  const link = new WebSocketFrameLink(ws);
  assert.equal(ws.binaryType, 'arraybuffer');
  ws.deliver(frame(Uint8Array.of(1, 2, 3)));
  ws.deliver(frame(Uint8Array.of(4)));
  assert.deepEqual([...(await link.next())], [1, 2, 3]);
  assert.deepEqual([...(await link.next())], [4]);
  const waiting = link.next();
  ws.deliver(frame(Uint8Array.of(5)));
  assert.deepEqual([...(await waiting)], [5]);
  link.send(frame(Uint8Array.of(9)));
  assert.equal(ws.sent.length, 1);
});

test('a text message, a message that is not one frame, and an oversized frame close the link', async () => {
  for (const [bad, code, reason] of [
    ['hello', 4003, 'text_message'],
    [Uint8Array.of(0, 0, 0, 5, 1), 4002, 'not_one_frame'],
    [frame(new Uint8Array(65)), 4009, 'frame_too_large'],
  ] as const) {
    const ws = new FakeSocket();
    const link = new WebSocketFrameLink(ws, 64);
    ws.deliver(bad);
    assert.equal(ws.closedWith?.code, code);
    assert.match(ws.closedWith?.reason ?? '', new RegExp(reason));
    await assert.rejects(link.next());
    assert.equal(link.closed, true);
  }
});

test('unread frames are bounded in bytes: past the bound the link ends with slow_reader', async () => {
  assert.ok(DEFAULT_MAX_QUEUED_BYTES >= 10 * 1024 * 1024 + 1024 * 1024, 'a whole 10 MiB file_get answer fits');
  const ws = new FakeSocket();
  const link = new WebSocketFrameLink(ws, 1024, 3000);
  for (let i = 0; i < 3; i++) ws.deliver(frame(new Uint8Array(1000)));
  assert.equal(ws.closedWith, undefined);
  ws.deliver(frame(new Uint8Array(1000)));
  assert.equal((ws.closedWith as { code?: number } | undefined)?.code, 4008);
  // What was queued before the overflow is still read, then the failure.
  for (let i = 0; i < 3; i++) assert.equal((await link.next()).length, 1000);
  await assert.rejects(link.next(), { code: 'slow_reader' });
});

test('the peer closing rejects a pending read with connection_closed', async () => {
  const ws = new FakeSocket();
  const link = new WebSocketFrameLink(ws);
  const pending = link.next();
  ws.onclose?.({ code: 1006, reason: '' });
  await assert.rejects(pending, { code: 'connection_closed' });
});
