/**
 * The web client's model without a browser (src/web/lib/chat.ts runs on Node too): conversation
 * merging (dedupe by id, order by seq, the per-conversation bound) and the bounded outbox of
 * texts written while disconnected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webCrypto } from '../../src/protocol/crypto/webcrypto.js';
import type { SigningKey } from '../../src/protocol/crypto/provider.js';
import type { BrowserSocket } from '../../src/protocol/frame-link.js';
import { ChatModel, MAX_MESSAGES_PER_CONVERSATION, MAX_OUTBOX, dmKey, mergeMessages, type ChatMessage } from '../../src/web/lib/chat.js';

const msg = (id: number, seq: number): ChatMessage => ({ id, seq, conversation_id: 1, kind: 'text', from: 'bob', to: 'alice', text: `m${seq}`, created_at: seq });

test('mergeMessages: one entry per id, ascending seq, bounded (newest kept, or oldest when scrolling back)', () => {
  const merged = mergeMessages([msg(3, 3), msg(1, 1)], [msg(2, 2), msg(3, 3)]);
  assert.deepEqual(merged.map((m) => m.seq), [1, 2, 3]);
  const many = Array.from({ length: MAX_MESSAGES_PER_CONVERSATION + 10 }, (_, i) => msg(i + 1, i + 1));
  const live = mergeMessages([], many);
  assert.equal(live.length, MAX_MESSAGES_PER_CONVERSATION);
  assert.equal(live[0].seq, 11);
  const back = mergeMessages([], many, true);
  assert.equal(back.length, MAX_MESSAGES_PER_CONVERSATION);
  assert.equal(back[0].seq, 1);
});

test('texts written while disconnected wait in a bounded outbox', async () => {
  const model = new ChatModel({
    makeSocket: (): BrowserSocket => {
      throw new Error('offline');
    },
    provider: webCrypto(),
    chain: [],
    privateKey: undefined as unknown as SigningKey,
    roots: [],
    serverName: 'localhost',
  });
  const key = dmKey('bob');
  model.state = { ...model.state, active: key, conversations: new Map([[key, { key, kind: 'dm', name: 'bob', messages: [], more: false, loaded: true, unread: 0 }]]) };
  for (let i = 0; i < MAX_OUTBOX; i++) await model.sendText(`queued ${i}`);
  assert.equal(model.state.outbox, MAX_OUTBOX);
  assert.match(model.state.notice ?? '', /sent when the connection is back/);
  await assert.rejects(model.sendText('one too many'), /already waiting/);
  model.logout();
  assert.equal(model.state.outbox, 0);
});
