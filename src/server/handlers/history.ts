/**
 * history: one page of a DM or a group, oldest first, paged backwards by message id. Entries have
 * exactly the wire shape of the `message` push, so a client renders both the same way.
 */
import { SecureChatError } from '../../errors.js';
import type { AppMessage } from '../../protocol/types.js';
import type { MessageView } from '../../storage/types.js';
import { messagePush } from '../delivery.js';
import { requireMember, resolveGroup, resolveUser, userIdOf } from '../lookup.js';
import { command } from '../router.js';
import type { ChatContext } from '../services.js';

export const HISTORY_MAX_LIMIT = 200;
export const HISTORY_DEFAULT_LIMIT = 50;
/** A page's price grows with its bytes too: one more token per this many (a 1 MiB page costs 16 more). */
const HISTORY_BYTES_PER_TOKEN = 64 * 1024;
/** JSON of the response around the messages: {"type":"response","id":…,"ok":true,"result":{…}}. */
const RESPONSE_ENVELOPE_BYTES = 256;

/**
 * The newest messages of `page` whose JSON fits in `maxBytes`, oldest first; `more` when some had
 * to be left out (the client asks again with `before` = the first id it got).
 */
export function fitToFrame(page: AppMessage[], maxBytes: number): { messages: AppMessage[]; cut: boolean; bytes: number } {
  const start = maxBytes - RESPONSE_ENVELOPE_BYTES;
  let budget = start;
  let first = page.length;
  while (first > 0) {
    // +1 for the comma between array entries.
    const size = Buffer.byteLength(JSON.stringify(page[first - 1]), 'utf8') + 1;
    if (size > budget) break;
    budget -= size;
    first--;
  }
  return { messages: page.slice(first), cut: first > 0, bytes: start - budget };
}

const schema = {
  with: { type: 'string', min: 1, max: 64, optional: true },
  group: { type: 'string', min: 1, max: 64, optional: true },
  before: { type: 'integer', min: 1, optional: true },
  limit: { type: 'integer', min: 1, max: HISTORY_MAX_LIMIT, optional: true },
} as const;

export const historyCommands = [
  command<ChatContext, typeof schema>({
    type: 'history',
    requires: 'login',
    schema,
    // Pages can be a frame each: built one at a time per session, and only while it reads them.
    serial: true,
    // A page is up to HISTORY_MAX_LIMIT rows read and encoded: one token per 50 rows asked for,
    // and (charged once the page is built) one per 64 KiB of it.
    cost: (p) => 1 + Math.ceil((p.limit ?? HISTORY_DEFAULT_LIMIT) / 50),
    async handler(ctx, p): Promise<{ messages: AppMessage[]; more?: true }> {
      if ((p.with === undefined) === (p.group === undefined)) {
        throw new SecureChatError('bad_request', 'history needs exactly one of "with" (a user) or "group".');
      }
      const { storage } = ctx.services;
      const me = userIdOf(ctx.session);
      const page = { limit: p.limit ?? HISTORY_DEFAULT_LIMIT, ...(p.before !== undefined ? { beforeId: p.before } : {}) };
      let views: MessageView[];
      let recipientOf: (view: MessageView) => string;
      if (p.group !== undefined) {
        const group = await resolveGroup(storage, p.group);
        await requireMember(storage, group, me);
        views = await storage.history(group.id, page);
        recipientOf = () => '';
      } else {
        const other = await resolveUser(storage, p.with ?? '');
        if (other.id === me) throw new SecureChatError('bad_request', 'There is no conversation with yourself.');
        // Storage has no read-only DM lookup; getOrCreateDm is idempotent, and an empty DM is harmless.
        const dm = await storage.getOrCreateDm(me, other.id);
        views = await storage.history(dm.id, page);
        recipientOf = (view) => (view.senderId === me ? other.username : ctx.session.username);
      }
      const { messages, cut, bytes } = fitToFrame(
        views.map((v) => messagePush(v, recipientOf(v))),
        ctx.services.limits.maxResponseBytes,
      );
      // Rows were priced up front; the bytes read, encoded and encrypted are paid for now.
      ctx.session.charge(Math.floor(bytes / HISTORY_BYTES_PER_TOKEN));
      return cut ? { messages, more: true } : { messages };
    },
  }),
];
