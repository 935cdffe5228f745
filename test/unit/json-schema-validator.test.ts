/** The test-side JSON Schema validator rejects what the docs/schemas files forbid (so a green schema test means something). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/cli.js';
import { SchemaSet } from '../helpers/json-schema.js';

const docs = new SchemaSet(join(REPO_ROOT, 'docs', 'schemas'));

test('a valid line passes; wrong types, missing, unexpected and out-of-enum fields fail', () => {
  assert.deepEqual(docs.validate('presence.schema.json', { event: 'presence', type: 'presence', user: 'bob', uuid: 'u-1', status: 'online' }), []);
  assert.match(docs.validate('presence.schema.json', { event: 'presence', user: 'bob', uuid: 'u-1', status: 'away' }).join(), /not in/);
  assert.match(docs.validate('presence.schema.json', { event: 'presence', user: 'bob', status: 'online' }).join(), /missing "uuid"/);
  assert.match(docs.validate('presence.schema.json', { event: 'presence', user: 'bob', uuid: 'u', status: 'online', extra: 1 }).join(), /unexpected property "extra"/);
  assert.match(docs.validate('caught_up.schema.json', { event: 'caught_up', pending: -1 }).join(), /< 0/);
  assert.match(docs.validate('caught_up.schema.json', { event: 'caught_up', pending: 1.5 }).join(), /expected integer/);
  assert.match(docs.validate('ready.schema.json', { event: 'result', user: 'a', uuid: 'b' }).join(), /expected "ready"/);
});

test('$ref across files and oneOf: a message has exactly one of to/group', () => {
  const m = { event: 'message', type: 'message', id: 1, seq: 1, conversation_id: 1, kind: 'text', from: 'a', from_uuid: 'u', text: 'hi', created_at: 0 };
  assert.deepEqual(docs.validate('message.schema.json', { ...m, to: 'bob' }), []);
  assert.match(docs.validate('message.schema.json', m).join(), /matches 0 of the oneOf/);
  assert.match(docs.validate('message.schema.json', { ...m, to: 'bob', group: 'g' }).join(), /matches 2 of the oneOf/);
  assert.match(docs.validate('result.schema.json', { event: 'result', command: '/history bob', ok: true, messages: [{ ...m, event: undefined, to: 'b', id: 0 }] }).join(), /messages\[0\]/);
});

test('a keyword outside the supported subset is refused, not ignored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sc-schema-'));
  try {
    writeFileSync(join(dir, 'x.schema.json'), JSON.stringify({ type: 'string', pattern: '^a' }));
    assert.throws(() => new SchemaSet(dir).validate('x.schema.json', 'b'), /outside the supported subset/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
