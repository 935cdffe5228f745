/**
 * File transfer. An offer is accepted or refused (size, permission, name) before any data moves;
 * chunks arrive as binary data in order; the server checks size and sha256, stores the file, and
 * only then stores and delivers the `file` message. file_get streams a stored file back as
 * `file_data` records, pausing whenever the socket does not drain.
 */
import { SecureChatError } from '../../errors.js';
import type { Storage, StoredMessage } from '../../storage/types.js';
import { requireMember, resolveGroup, resolveUser, userIdOf } from '../lookup.js';
import { command } from '../router.js';
import type { ChatContext } from '../services.js';
import type { Session } from '../session.js';
import { sanitizeFileName, transfersOf, type TransferTarget, type Upload } from '../transfers.js';
import { recipientsOf } from './groups.js';
import { ackResult, clientMsgIdField, viewOf } from './dm.js';

const transferId = { type: 'string', min: 1, max: 64 } as const;
/** A file chunk costs one rate token per this many bytes (on top of the request's one). */
const CHUNK_COST_BYTES = 256 * 1024;
/** file_get reads a whole file and streams it: priced like several requests. */
const FILE_GET_COST = 5;

const offerSchema = {
  to: { type: 'string', min: 1, max: 64, optional: true },
  group: { type: 'string', min: 1, max: 64, optional: true },
  // Bounded on the wire; sanitised to ≤ 255 UTF-8 bytes by the handler.
  name: { type: 'string', min: 1, max: 1024 },
  size: { type: 'integer', min: 0 },
  sha256: { type: 'string', min: 64, max: 64, pattern: /^[0-9a-fA-F]{64}$/ },
} as const;

const getSchema = {
  message_id: { type: 'integer', min: 1 },
  file: { type: 'string', min: 1, max: 64, optional: true },
} as const;

/** The ack of a stored file message: its body is the file's wire description. */
function fileAck(stored: StoredMessage): ReturnType<typeof ackResult> & { file: unknown } {
  return { ...ackResult(stored), file: JSON.parse(stored.body) as unknown };
}

const backendLimits = new WeakMap<Storage, Promise<number>>();

/** The backend's own ceiling (MySQL: max_allowed_packet), asked once per storage. */
function backendMaxFileBytes(storage: Storage): Promise<number> {
  let limit = backendLimits.get(storage);
  if (!limit) {
    limit = storage.info().then((info) => info.maxFileBytes);
    // A failed probe is not cached: the next offer asks again.
    limit.catch(() => backendLimits.delete(storage));
    backendLimits.set(storage, limit);
  }
  return limit;
}

async function checkSize(ctx: ChatContext, size: number): Promise<void> {
  const max = Math.min(ctx.services.limits.maxFileBytes, await backendMaxFileBytes(ctx.services.storage));
  if (size > max) {
    throw new SecureChatError('file_too_large', `The file is ${size} bytes; the limit is ${max}.`, { details: { size, maxBytes: max } });
  }
}

async function resolveTarget(ctx: ChatContext, p: { to?: string; group?: string }): Promise<TransferTarget> {
  const { storage } = ctx.services;
  const me = userIdOf(ctx.session);
  if (p.group !== undefined) {
    const group = await resolveGroup(storage, p.group);
    await requireMember(storage, group, me);
    return { kind: 'group', conversationId: group.id, name: group.name };
  }
  const recipient = await resolveUser(storage, p.to ?? '');
  if (recipient.id === me) throw new SecureChatError('bad_request', 'You cannot send a file to yourself.');
  const dm = await storage.getOrCreateDm(me, recipient.id);
  return { kind: 'dm', conversationId: dm.id, recipient: { userId: recipient.id, username: recipient.username } };
}

/** Where the file goes now: membership may have changed (or the group gone) since the offer. */
async function currentAudience(ctx: ChatContext, upload: Upload) {
  const { storage } = ctx.services;
  const target = upload.target;
  if (target.kind === 'dm') {
    const user = await storage.getUserById(target.recipient.userId);
    if (!user || user.disabled) throw new SecureChatError('unknown_user', `No such user: ${target.recipient.username}.`);
    return { conversation: { kind: 'dm' as const, name: null }, recipients: [target.recipient] };
  }
  const group = await storage.getConversation(target.conversationId);
  const members = group ? await storage.getMembers(group.id) : [];
  if (!group || !members.some((m) => m.userId === upload.userId)) {
    throw new SecureChatError('not_member', `You are no longer a member of ${target.name}.`);
  }
  return { conversation: { kind: 'group' as const, name: group.name }, recipients: recipientsOf(members) };
}

/** Errors after which file_complete may simply be retried; anything else ends the transfer. */
function retryable(err: unknown): boolean {
  return err instanceof SecureChatError && (err.code === 'storage_unavailable' || err.code === 'rate_limited' || (err.code === 'busy' && err.reason === 'files_in_memory_budget'));
}

/** The size a file message announces (its body is the file's JSON), for budgeting before the read. */
function offeredSize(body: string): number {
  try {
    const size = (JSON.parse(body) as { size?: unknown }).size;
    return typeof size === 'number' && size >= 0 ? size : 0;
  } catch {
    return 0;
  }
}

function waitForDrain(session: Session): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      session.off('drain', done);
      session.off('close', done);
      resolve();
    };
    session.on('drain', done);
    session.on('close', done);
  });
}

export const fileCommands = [
  command<ChatContext, typeof offerSchema>({
    type: 'file_offer',
    requires: 'login',
    schema: offerSchema,
    async handler(ctx, p) {
      if ((p.to === undefined) === (p.group === undefined)) {
        throw new SecureChatError('bad_request', 'file_offer needs exactly one of "to" (a user) or "group".');
      }
      const name = sanitizeFileName(p.name);
      await checkSize(ctx, p.size);
      const target = await resolveTarget(ctx, p);
      const { limits, spool, quota } = ctx.services;
      const me = userIdOf(ctx.session);
      // Budgets before any byte moves: the quota (stored + reserved), then the spool's own budgets.
      await quota.check(me, p.size, spool.reservedByUser(me));
      const spooled = spool.reserve(ctx.session.id, me, p.size);
      const upload = transfersOf(ctx.session).open(me, target, { name, size: p.size, sha256: p.sha256.toLowerCase() }, limits.maxOpenTransfers, spooled, spool.limits.uploadIdleTimeoutMs);
      return { transfer_id: upload.id, chunk_size: limits.fileChunkBytes };
    },
  }),

  command<ChatContext, { transfer_id: typeof transferId; offset: { type: 'integer'; min: 0 } }>({
    type: 'file_chunk',
    requires: 'login',
    schema: { transfer_id: transferId, offset: { type: 'integer', min: 0 } },
    binary: true,
    // A quarter token for the request, plus one per 256 KiB carried: a full 1 MiB chunk costs 4.25.
    cost: (_p, data) => 0.25 + (data?.length ?? 0) / CHUNK_COST_BYTES,
    // Checked and hashed synchronously (in arrival order, nothing can reorder them), then spooled;
    // the response waits for the write, so the chunk's bytes stay counted as in flight until then.
    async handler(ctx, p, data) {
      if (data === undefined) throw new SecureChatError('bad_request', 'file_chunk carries its bytes as binary data.');
      const transfers = transfersOf(ctx.session);
      const upload = transfers.get(p.transfer_id, userIdOf(ctx.session));
      const written = upload.append(p.offset, data, ctx.services.limits.fileChunkBytes);
      transfers.keepAlive(upload, ctx.services.spool.limits.uploadIdleTimeoutMs);
      const received = upload.received;
      await written;
      return { received };
    },
  }),

  command<ChatContext, { transfer_id: typeof transferId; client_msg_id: typeof clientMsgIdField }>({
    type: 'file_complete',
    requires: 'login',
    schema: { transfer_id: transferId, client_msg_id: clientMsgIdField },
    async handler(ctx, p) {
      const { storage, delivery } = ctx.services;
      const transfers = transfersOf(ctx.session);
      const upload = transfers.get(p.transfer_id, userIdOf(ctx.session));
      if (upload.completing) throw new SecureChatError('bad_request', 'The transfer is already being completed.');
      upload.completing = true;
      let releaseMemory = (): void => undefined;
      try {
        // A retry (perhaps re-uploaded through another server process) of a file already sent: answer as before, store nothing.
        const prior = p.client_msg_id === undefined ? null : await storage.findByClientMsgId(upload.userId, p.client_msg_id);
        if (prior) {
          if (prior.kind !== 'file' || prior.conversationId !== upload.target.conversationId) {
            throw new SecureChatError('bad_request', 'That client_msg_id was already used for a different message.', {
              reason: 'client_msg_id_reused',
              details: { field: 'client_msg_id' },
            });
          }
          transfers.drop(upload.id);
          return fileAck({ ...prior, duplicate: true });
        }
        // Storing reads the whole file back into memory: counted with downloads in one server-wide
        // budget, or many sessions completing at once would hold their whole spool in RAM.
        releaseMemory = ctx.services.downloadBytes.take(upload.file.size, 'files in memory');
        const content = await upload.verifiedContent();
        const audience = await currentAudience(ctx, upload);
        const { name, size, sha256 } = upload.file;
        if (!upload.stored) {
          // Its own bytes are in the reservation: this catches what other sessions stored meanwhile.
          await ctx.services.quota.check(upload.userId, 0, ctx.services.spool.reservedByUser(upload.userId));
          upload.stored = await storage.storeFile({ name, size, sha256, content, senderId: upload.userId });
          ctx.services.quota.stored(upload.userId, size);
          ctx.services.recentFiles.add({ ...upload.stored, content });
        }
        const file = { uuid: upload.stored.uuid, name, size, sha256 };
        const stored = await storage.appendMessage({
          conversationId: upload.target.conversationId,
          senderId: upload.userId,
          kind: 'file',
          body: JSON.stringify(file),
          fileId: upload.stored.id,
          clientMsgId: p.client_msg_id,
        });
        transfers.drop(upload.id);
        if (stored.duplicate) return fileAck(stored);
        delivery.publish(viewOf(stored, ctx, audience.conversation), audience.recipients);
        return { ...ackResult(stored), file };
      } catch (err) {
        if (retryable(err)) upload.completing = false;
        else transfers.drop(upload.id);
        throw err;
      } finally {
        releaseMemory();
      }
    },
  }),

  command<ChatContext, typeof getSchema>({
    type: 'file_get',
    requires: 'login',
    schema: getSchema,
    cost: FILE_GET_COST,
    async handler(ctx, p) {
      const { storage, limits } = ctx.services;
      const session = ctx.session;
      const end = transfersOf(session).beginDownload(limits.maxOpenDownloads);
      let releaseMemory = (): void => undefined;
      try {
        const message = await storage.getMessage(p.message_id);
        if (!message) throw new SecureChatError('not_found', `No message ${p.message_id}.`);
        // Membership before anything else, so outsiders learn nothing about the message.
        if (!(await storage.getMember(message.conversationId, userIdOf(session)))) {
          throw new SecureChatError('not_member', 'You are not in the conversation of that message.');
        }
        if (message.kind !== 'file' || message.fileId === null) throw new SecureChatError('bad_request', `Message ${p.message_id} is not a file.`);
        // A cached file is pinned while it streams (it stays inside the cache's bound); one read
        // from storage is a whole copy in memory until streamed: counted server-wide.
        const cached = ctx.services.recentFiles.take(message.fileId);
        if (cached) releaseMemory = cached.release;
        else releaseMemory = ctx.services.downloadBytes.take(offeredSize(message.body), 'files in memory');
        const file = cached?.file ?? (await storage.getFile(message.fileId));
        if (!file) throw new SecureChatError('not_found', 'That file is no longer stored.');
        if (p.file !== undefined && p.file.toLowerCase() !== file.uuid.toLowerCase()) {
          throw new SecureChatError('bad_request', `Message ${p.message_id} carries a different file.`, { details: { field: 'file' } });
        }
        for (let offset = 0; offset < file.size; offset += limits.fileChunkBytes) {
          const chunk = file.content.subarray(offset, offset + limits.fileChunkBytes);
          if (session.send({ type: 'file_data', file: file.uuid, offset }, chunk)) continue;
          if (session.closed) throw new SecureChatError('connection_closed');
          await waitForDrain(session);
        }
        if (session.closed) throw new SecureChatError('connection_closed');
        return { file: { uuid: file.uuid, name: file.name, size: file.size, sha256: file.sha256 } };
      } finally {
        releaseMemory();
        end();
      }
    },
  }),
];
