/**
 * Delivery receipts (src/server/receipts.ts): one receipt per message and recipient, to the sender,
 * once that recipient's ack covers it; never for the sender's own messages or for non-recipients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Receipts } from '../../src/server/receipts.js';

const users = (...ids: number[]) => ids.map((userId) => ({ userId }));

test('a group message: each member ack yields one receipt per message it newly covers, to its sender', () => {
  const r = new Receipts();
  const members = users(...Array.from({ length: 40 }, (_, i) => i + 1)); // one list for every message, as GroupMembers caches it
  r.track(7, 10, 1, members);
  r.track(7, 11, 2, members);
  r.track(7, 12, 1, members);
  assert.deepEqual(r.acknowledge(7, 3, 11), [
    { messageId: 10, senderId: 1 },
    { messageId: 11, senderId: 2 },
  ]);
  assert.deepEqual(r.acknowledge(7, 3, 11), [], 'the same ack again: nothing new');
  assert.deepEqual(r.acknowledge(7, 3, 12), [{ messageId: 12, senderId: 1 }]);
  // The sender of 10 and 12 gets no receipt for its own messages, only for 11.
  assert.deepEqual(r.acknowledge(7, 1, 100), [{ messageId: 11, senderId: 2 }]);
  assert.deepEqual(r.acknowledge(7, 99, 100), [], 'not a recipient');
  assert.deepEqual(r.acknowledge(8, 3, 100), [], 'another conversation');
});

test('a DM: one receipt; the entry is forgotten once every recipient acknowledged', () => {
  const r = new Receipts();
  r.track(3, 5, 1, users(2));
  r.track(3, 6, 1, users(2));
  r.track(3, 7, 2, users(1, 1)); // a repeated recipient counts once
  assert.deepEqual(r.acknowledge(3, 2, 6), [
    { messageId: 5, senderId: 1 },
    { messageId: 6, senderId: 1 },
  ]);
  assert.deepEqual(r.acknowledge(3, 1, 7), [{ messageId: 7, senderId: 2 }]);
  assert.deepEqual(r.acknowledge(3, 1, 7), []);
  r.track(3, 8, 1, users(2));
  assert.deepEqual(r.acknowledge(3, 2, 8), [{ messageId: 8, senderId: 1 }], 'a conversation emptied and tracked again starts afresh');
});

test('a message to nobody but its sender is not tracked; the per-conversation bound drops the oldest', () => {
  const r = new Receipts(3);
  r.track(1, 1, 5, users(5));
  for (let id = 2; id <= 6; id++) r.track(1, id, 5, users(5, 6));
  assert.deepEqual(
    r.acknowledge(1, 6, 10).map((x) => x.messageId),
    [4, 5, 6],
  );
});
