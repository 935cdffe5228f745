/** dm and ack: a direct message is acknowledged only once it is durably stored. */
import { SecureChatError } from '../../errors.js';
import { resolveUser, userIdOf } from '../lookup.js';
import { command } from '../router.js';
import type { ChatContext } from '../services.js';
import { CLIENT_MSG_ID, type MessageView, type StoredMessage } from '../../storage/types.js';

const target = { type: 'string', min: 1, max: 64 } as const;
export const textField = { type: 'string', min: 1, max: 64 * 1024 } as const;
/** The sender's idempotency key for dm, group_send and file_complete (docs/MESSAGES.md). */
export const clientMsgIdField = { type: 'string', min: 1, max: 64, pattern: CLIENT_MSG_ID, optional: true } as const;

export function checkTextSize(ctx: ChatContext, text: string): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > ctx.services.limits.maxTextBytes) {
    throw new SecureChatError('bad_request', `Message too long: ${bytes} bytes, at most ${ctx.services.limits.maxTextBytes}.`);
  }
}

/**
 * The text of a message counts against its sender's storage quota (storage-quota.ts), like files:
 * otherwise text is a way around the quota (64 KiB per message at the request rate of every
 * session). A retry of a message already stored (same client_msg_id) is answered as before, never
 * refused for a quota its first attempt fitted. Returns what to record once the message is stored.
 */
export async function chargeText(ctx: ChatContext, senderId: number, text: string, clientMsgId: string | undefined): Promise<(stored: StoredMessage) => void> {
  const { quota, spool, storage } = ctx.services;
  const bytes = Buffer.byteLength(text, 'utf8');
  try {
    await quota.check(senderId, bytes, spool.reservedByUser(senderId), 'message');
  } catch (err) {
    if (clientMsgId === undefined || !(err instanceof SecureChatError) || err.code !== 'quota_exceeded') throw err;
    if (!(await storage.findByClientMsgId(senderId, clientMsgId))) throw err;
  }
  return (stored) => {
    if (!stored.duplicate) quota.stored(senderId, bytes);
  };
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

export function ackResult(stored: StoredMessage): { id: number; seq: number; conversation_id: number; created_at: number; duplicate?: true } {
  return {
    id: stored.id,
    seq: stored.seq,
    conversation_id: stored.conversationId,
    created_at: stored.createdAt,
    ...(stored.duplicate ? { duplicate: true as const } : {}),
  };
}

const ackSchema = {
  conversation_id: { type: 'integer', min: 1 },
  upto: { type: 'integer', min: 0, optional: true },
  upto_seq: { type: 'integer', min: 0, optional: true },
} as const;

export const dmCommands = [
  command<ChatContext, { to: typeof target; text: typeof textField; client_msg_id: typeof clientMsgIdField }>({
    type: 'dm',
    requires: 'login',
    schema: { to: target, text: textField, client_msg_id: clientMsgIdField },
    async handler(ctx, p) {
      checkTextSize(ctx, p.text);
      const { storage, delivery } = ctx.services;
      const senderId = userIdOf(ctx.session);
      const recipient = await resolveUser(storage, p.to);
      if (recipient.id === senderId) throw new SecureChatError('bad_request', 'You cannot send a direct message to yourself.');
      const conversation = await storage.getOrCreateDm(senderId, recipient.id);
      const charged = await chargeText(ctx, senderId, p.text, p.client_msg_id);
      const stored = await storage.appendMessage({ conversationId: conversation.id, senderId, kind: 'text', body: p.text, clientMsgId: p.client_msg_id });
      charged(stored);
      // A retry (duplicate) was published when it was first stored.
      if (!stored.duplicate) delivery.publish(viewOf(stored, ctx, { kind: 'dm', name: null }), [{ userId: recipient.id, username: recipient.username }]);
      return ackResult(stored);
    },
  }),
  command<ChatContext, typeof ackSchema>({
    type: 'ack',
    requires: 'login',
    schema: ackSchema,
    // An ack is a cursor write in the database: it costs like any request. Clients batch them
    // (one per conversation per page), and a refused ack is made good by the next one (upto).
    cost: 1,
    async handler(ctx, p) {
      if ((p.upto === undefined) === (p.upto_seq === undefined)) throw new SecureChatError('bad_request', 'ack needs exactly one of "upto" (a message id) or "upto_seq".');
      // Cursors are seqs; a seq names the newest message at or below it.
      const uptoId = p.upto ?? (await ctx.services.storage.messageIdAtSeq(p.conversation_id, p.upto_seq ?? 0));
      const upto = await ctx.services.delivery.acknowledge(ctx.session, p.conversation_id, uptoId);
      return { upto };
    },
  }),
];
