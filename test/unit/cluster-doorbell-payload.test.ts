/** The message a doorbell carries (cluster/doorbell-payload.ts): what is carried, and what is refused on receipt. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INLINE_BODY_MAX_BYTES, inlinePayload, payloadView } from '../../src/server/cluster/doorbell-payload.js';
import type { MessageView } from '../../src/storage/types.js';

const VIEW: MessageView = {
  id: 41, conversationId: 7, seq: 3, senderId: 2, kind: 'text', body: 'hello', fileId: null, createdAt: 1_764_000_000_000,
  clientMsgId: 'c-1', senderUuid: '0b7e0b2c-7a53-4e0c-9f3c-3e1f2d1b8a11', senderName: 'alice', conversationKind: 'dm', conversationName: null,
};
const CORE = { c: 7, s: 3, id: 41, from: 2 };

test('a small text travels whole and comes back as the same view', () => {
  const v = inlinePayload(VIEW);
  assert.ok(v);
  assert.deepEqual(payloadView(CORE, JSON.parse(JSON.stringify(v))), VIEW);
  const group = { ...VIEW, conversationKind: 'group' as const, conversationName: 'team', clientMsgId: null };
  assert.deepEqual(payloadView(CORE, JSON.parse(JSON.stringify(inlinePayload(group)))), group);
});

test('conversation, seq, id and sender are always the doorbell\'s own', () => {
  const v = { ...inlinePayload(VIEW), c: 99, s: 99, id: 99, from: 99, conversationId: 99 };
  const got = payloadView(CORE, v);
  assert.equal(got?.conversationId, 7);
  assert.equal(got?.seq, 3);
  assert.equal(got?.id, 41);
  assert.equal(got?.senderId, 2);
});

test('files and bodies over the bound (counted in UTF-8 bytes) are not carried', () => {
  assert.equal(inlinePayload({ ...VIEW, kind: 'file', body: '{"name":"a"}', fileId: 5 }), undefined);
  assert.ok(inlinePayload({ ...VIEW, body: 'x'.repeat(INLINE_BODY_MAX_BYTES) }));
  assert.equal(inlinePayload({ ...VIEW, body: 'x'.repeat(INLINE_BODY_MAX_BYTES + 1) }), undefined);
  const euro = '€'.repeat(Math.floor(INLINE_BODY_MAX_BYTES / 3)); // 3 bytes each
  assert.ok(inlinePayload({ ...VIEW, body: euro }));
  assert.equal(inlinePayload({ ...VIEW, body: euro + '€' }), undefined);
});

test('a payload of the wrong shape is refused (the row is read instead)', () => {
  const good = inlinePayload(VIEW) as unknown as Record<string, unknown>;
  const bad: unknown[] = [
    null, 'text', [good], {},
    { ...good, b: 42 }, { ...good, b: 'x'.repeat(INLINE_BODY_MAX_BYTES + 1) },
    { ...good, at: '1' }, { ...good, at: Number.NaN },
    { ...good, su: 7 }, { ...good, sn: '' }, { ...good, sn: 'x'.repeat(300) },
    { ...good, ck: 'channel' }, { ...good, ck: 'group', cn: 5 },
    { ...good, cm: 7 }, { ...good, cm: 'not a client id!' }, { ...good, cm: undefined },
  ];
  for (const v of bad) assert.equal(payloadView(CORE, v), null, JSON.stringify(v)?.slice(0, 80));
});
