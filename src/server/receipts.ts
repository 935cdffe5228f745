/**
 * Remembers, for messages sent while this server runs, which recipients have not yet acknowledged
 * them, so an `ack` can tell each sender "delivered". Bounded: old entries are forgotten (a receipt
 * is a courtesy; delivery itself is tracked durably by the storage cursors).
 *
 * Cheap on the fan-out path: tracking a message keeps a reference to its recipient list (a group's
 * cached member list is one array for every message until the membership changes), not a copy per
 * message; who has acknowledged what is one cursor per user and conversation. So a message to 100
 * members costs O(1) here, and an ack walks only the messages it newly covers.
 */

/** Whom a message waits for: the recipient list as given (user ids of its entries). */
export interface ReceiptRecipient {
  userId: number;
}

interface Pending {
  id: number;
  senderId: number;
  recipients: readonly ReceiptRecipient[];
  /** Recipients (other than the sender) who have not acknowledged it yet. */
  remaining: number;
}

interface ConversationReceipts {
  /** In id order (messages are tracked as they are stored). */
  list: Pending[];
  /** Per user: receipts have been issued for every tracked message ≤ this id. */
  acked: Map<number, number>;
}

export interface Receipt {
  messageId: number;
  senderId: number;
}

/** Lists this long are searched through a Set of their ids (built once per list), shorter ones directly. */
const SET_FROM = 16;

export class Receipts {
  private readonly byConversation = new Map<number, ConversationReceipts>();
  private readonly idSets = new WeakMap<readonly ReceiptRecipient[], Set<number>>();

  constructor(
    private readonly maxPerConversation = 1000,
    private readonly maxConversations = 10_000,
  ) {}

  track(conversationId: number, messageId: number, senderId: number, recipients: readonly ReceiptRecipient[]): void {
    const ids = this.idsOf(recipients);
    const remaining = ids ? ids.size - (ids.has(senderId) ? 1 : 0) : countOthers(recipients, senderId);
    if (remaining === 0) return;
    let conv = this.byConversation.get(conversationId);
    if (!conv) {
      if (this.byConversation.size >= this.maxConversations) {
        const oldest = this.byConversation.keys().next().value;
        if (oldest !== undefined) this.byConversation.delete(oldest);
      }
      conv = { list: [], acked: new Map() };
      this.byConversation.set(conversationId, conv);
    }
    conv.list.push({ id: messageId, senderId, recipients, remaining });
    if (conv.list.length > this.maxPerConversation) conv.list.splice(0, conv.list.length - this.maxPerConversation);
  }

  /** Records that `userId` has everything ≤ `upto` in the conversation; returns the receipts now due. */
  acknowledge(conversationId: number, userId: number, upto: number): Receipt[] {
    const conv = this.byConversation.get(conversationId);
    if (!conv) return [];
    const from = conv.acked.get(userId) ?? 0;
    if (upto <= from) return [];
    conv.acked.set(userId, upto);
    const list = conv.list;
    const due: Receipt[] = [];
    for (let i = firstAfter(list, from); i < list.length; i++) {
      const entry = list[i];
      if (entry.id > upto) break;
      if (entry.senderId === userId || entry.remaining === 0 || !this.includes(entry.recipients, userId)) continue;
      entry.remaining--;
      due.push({ messageId: entry.id, senderId: entry.senderId });
    }
    let done = 0;
    while (done < list.length && list[done].remaining === 0) done++;
    if (done > 0) list.splice(0, done);
    // Nothing left to wait for: the acked cursors only matter for messages still listed.
    if (list.length === 0) this.byConversation.delete(conversationId);
    return due;
  }

  private idsOf(recipients: readonly ReceiptRecipient[]): Set<number> | null {
    if (recipients.length < SET_FROM) return null;
    let ids = this.idSets.get(recipients);
    if (!ids) {
      ids = new Set(recipients.map((r) => r.userId));
      this.idSets.set(recipients, ids);
    }
    return ids;
  }

  private includes(recipients: readonly ReceiptRecipient[], userId: number): boolean {
    const ids = this.idsOf(recipients);
    if (ids) return ids.has(userId);
    for (const r of recipients) if (r.userId === userId) return true;
    return false;
  }
}

/** Distinct recipients other than the sender, for a short list. */
function countOthers(recipients: readonly ReceiptRecipient[], senderId: number): number {
  let n = 0;
  for (let i = 0; i < recipients.length; i++) {
    const id = recipients[i].userId;
    if (id === senderId) continue;
    let seen = false;
    for (let j = 0; j < i; j++) if (recipients[j].userId === id) seen = true;
    if (!seen) n++;
  }
  return n;
}

/** Index of the first entry with id > `id` (the list is in id order). */
function firstAfter(list: readonly Pending[], id: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
