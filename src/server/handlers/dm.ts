/** dm and ack: a direct message is acknowledged only once it is durably stored. */
import { SecureChatError } from '../../errors.js';
import { resolveUser, userIdOf } from '../lookup.js';
import { command } from '../router.js';
import type { ChatContext } from '../services.js';
import type { MessageView, StoredMessage } from '../../storage/types.js';

const target = { type: 'string', min: 1, max: 64 } as const;
export const textField = { type: 'string', min: 1, max: 64 * 1024 } as const;

export function checkTextSize(ctx: ChatContext, text: string): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > ctx.services.limits.maxTextBytes) {
    throw new SecureChatError('bad_request', `Message too long: ${bytes} bytes, at most ${ctx.services.limits.maxTextBytes}.`);
  }
}

/** The stored message plus the sender and conversation fields a push needs, without another query. */
export function viewOf(stored: StoredMessage, ctx: ChatContext, conversation: { kind: 'dm' | 'group'; name: string | null }): MessageView {
  return {
    ...stored,
    senderUuid: ctx.session.userUuid ?? '',
    senderName: ctx.session.username,
    conversationKind: conversation.kind,
    conversationName: conversation.name,
  };
}

export function ackResult(stored: StoredMessage): { id: number; conversation_id: number; created_at: number } {
  return { id: stored.id, conversation_id: stored.conversationId, created_at: stored.createdAt };
}

export const dmCommands = [
  command<ChatContext, { to: typeof target; text: typeof textField }>({
    type: 'dm',
    requires: 'login',
    schema: { to: target, text: textField },
    async handler(ctx, p) {
      checkTextSize(ctx, p.text);
      const { storage, delivery } = ctx.services;
      const senderId = userIdOf(ctx.session);
      const recipient = await resolveUser(storage, p.to);
      if (recipient.id === senderId) throw new SecureChatError('bad_request', 'You cannot send a direct message to yourself.');
      const conversation = await storage.getOrCreateDm(senderId, recipient.id);
      const stored = await storage.appendMessage({ conversationId: conversation.id, senderId, kind: 'text', body: p.text });
      delivery.publish(viewOf(stored, ctx, { kind: 'dm', name: null }), [{ userId: recipient.id, username: recipient.username }]);
      return ackResult(stored);
    },
  }),
  command<ChatContext, { conversation_id: { type: 'integer'; min: 1 }; upto: { type: 'integer'; min: 0 } }>({
    type: 'ack',
    requires: 'login',
    schema: { conversation_id: { type: 'integer', min: 1 }, upto: { type: 'integer', min: 0 } },
    // An ack is a cursor write in the database: it costs like any request. Clients batch them
    // (one per conversation per page), and a refused ack is made good by the next one (upto).
    cost: 1,
    async handler(ctx, p) {
      const upto = await ctx.services.delivery.acknowledge(ctx.session, p.conversation_id, p.upto);
      return { upto };
    },
  }),
];
