import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageWriter } from '../../src/storage/message-writer.js';
import type { NewMessage, StoredMessage } from '../../src/storage/types.js';

/** A batch writer that records the batch sizes it was given and assigns ids in order. */
function recordingWriter(): { sizes: number[]; write: (b: NewMessage[]) => Promise<StoredMessage[]> } {
  const sizes: number[] = [];
  let next = 1;
  return {
    sizes,
    write: async (batch) => {
      sizes.push(batch.length);
      return batch.map((m) => ({ ...m, id: next, seq: next++, fileId: m.fileId ?? null, createdAt: 0, clientMsgId: m.clientMsgId ?? null }));
    },
  };
}

const msg = (body: string): NewMessage => ({ conversationId: 1, senderId: 1, kind: 'text', body });

test('appends made together are written as batches of at most maxBatch, ids in call order', async () => {
  const rec = recordingWriter();
  const w = new MessageWriter(rec.write, 1024);
  const stored = await Promise.all(Array.from({ length: 2500 }, (_, i) => w.append(msg(`m${i}`))));
  assert.deepEqual(rec.sizes, [1024, 1024, 452]);
  assert.deepEqual(stored.map((m) => m.body), Array.from({ length: 2500 }, (_, i) => `m${i}`));
  for (let i = 1; i < stored.length; i++) assert.ok(stored[i].id > stored[i - 1].id);
  await w.close();
});

test('a batch is also cut by body size (8 Mi characters), never below one message', async () => {
  const rec = recordingWriter();
  const w = new MessageWriter(rec.write, 1024);
  const big = 'x'.repeat(3 * 1024 * 1024);
  const huge = 'y'.repeat(9 * 1024 * 1024);
  const stored = await Promise.all([big, big, big, huge, 'small'].map((b) => w.append(msg(b))));
  assert.deepEqual(rec.sizes, [2, 1, 1, 1]);
  assert.deepEqual(stored.map((m) => m.body.length), [big.length, big.length, big.length, huge.length, 5]);
  await w.close();
});
