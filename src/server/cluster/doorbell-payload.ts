/**
 * The stored message a doorbell may carry (the `v` field of a `msg` bus message, docs/CLUSTER.md
 * "Doorbell"), so the receiving node can push it without reading the row back from the database.
 *
 * Only what the doorbell does not already say travels here: conversation, seq, id and sender are
 * the doorbell's own fields, so a payload cannot name another conversation or message than the
 * doorbell it rides on — the seq gate and the recipients are the doorbell's, as without a payload.
 * Only text bodies up to INLINE_BODY_MAX_BYTES are carried (a file's metadata and longer bodies keep
 * the database read): a doorbell goes to every node, so it stays small. The bus is trusted
 * infrastructure, but a payload of the wrong shape is ignored and the row read as before.
 */
import { CLIENT_MSG_ID, type ConversationKind, type MessageView } from '../../storage/types.js';

/** Largest body (UTF-8 bytes) a doorbell carries; a longer one is read from the database. */
export const INLINE_BODY_MAX_BYTES = 8 * 1024;

/** Bound on the names a payload carries (usernames and group names are far shorter). */
const MAX_NAME = 256;

/** The wire shape of `v`. */
export interface DoorbellPayload {
  /** body */
  b: string;
  /** created_at (ms) */
  at: number;
  /** sender uuid, sender name */
  su: string;
  sn: string;
  /** conversation kind and group name (null for a DM) */
  ck: ConversationKind;
  cn: string | null;
  /** client_msg_id (null when none) */
  cm: string | null;
}

/** The doorbell fields a payload is bound to. */
export interface DoorbellCore {
  c: number;
  s: number;
  id: number;
  from: number;
}

/** The payload for a stored message, or undefined when it must be read from the database. */
export function inlinePayload(view: MessageView): DoorbellPayload | undefined {
  if (view.kind !== 'text' || view.fileId !== null) return undefined;
  // UTF-8 is at most 3 bytes per UTF-16 unit: only long bodies need counting.
  if (view.body.length * 3 > INLINE_BODY_MAX_BYTES && Buffer.byteLength(view.body) > INLINE_BODY_MAX_BYTES) return undefined;
  return { b: view.body, at: view.createdAt, su: view.senderUuid, sn: view.senderName, ck: view.conversationKind, cn: view.conversationName ?? null, cm: view.clientMsgId ?? null };
}

/** The message view a doorbell carries, or null (absent or malformed: read the row instead). */
export function payloadView(core: DoorbellCore, v: unknown): MessageView | null {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const p = v as Partial<Record<keyof DoorbellPayload, unknown>>;
  if (typeof p.b !== 'string' || p.b.length > INLINE_BODY_MAX_BYTES) return null;
  if (typeof p.at !== 'number' || !Number.isFinite(p.at)) return null;
  if (!isName(p.su) || !isName(p.sn)) return null;
  if ((p.ck !== 'dm' && p.ck !== 'group') || (p.cn !== null && !isName(p.cn))) return null;
  if (p.cm !== null && (typeof p.cm !== 'string' || !CLIENT_MSG_ID.test(p.cm))) return null;
  return {
    id: core.id, conversationId: core.c, seq: core.s, senderId: core.from,
    kind: 'text', body: p.b, fileId: null, createdAt: p.at, clientMsgId: p.cm,
    senderUuid: p.su, senderName: p.sn, conversationKind: p.ck, conversationName: p.cn,
  };
}

function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME;
}
