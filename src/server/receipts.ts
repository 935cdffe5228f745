/**
 * Remembers, for messages sent while this server runs, which recipients have not yet acknowledged
 * them, so an `ack` can tell each sender "delivered". Bounded: old entries are forgotten (a receipt
 * is a courtesy; delivery itself is tracked durably by the storage cursors).
 */
interface Pending {
  id: number;
  senderId: number;
  waiting: Set<number>;
}

export interface Receipt {
  messageId: number;
  senderId: number;
}

export class Receipts {
  private readonly byConversation = new Map<number, Pending[]>();

  constructor(
    private readonly maxPerConversation = 1000,
    private readonly maxConversations = 10_000,
  ) {}

  track(conversationId: number, messageId: number, senderId: number, recipientIds: Iterable<number>): void {
    const waiting = new Set(recipientIds);
    waiting.delete(senderId);
    if (waiting.size === 0) return;
    let list = this.byConversation.get(conversationId);
    if (!list) {
      if (this.byConversation.size >= this.maxConversations) {
        const oldest = this.byConversation.keys().next().value;
        if (oldest !== undefined) this.byConversation.delete(oldest);
      }
      list = [];
      this.byConversation.set(conversationId, list);
    }
    list.push({ id: messageId, senderId, waiting });
    if (list.length > this.maxPerConversation) list.splice(0, list.length - this.maxPerConversation);
  }

  /** Records that `userId` has everything ≤ `upto` in the conversation; returns the receipts now due. */
  acknowledge(conversationId: number, userId: number, upto: number): Receipt[] {
    const list = this.byConversation.get(conversationId);
    if (!list) return [];
    const due: Receipt[] = [];
    for (const entry of list) {
      if (entry.id > upto) break;
      if (entry.waiting.delete(userId)) due.push({ messageId: entry.id, senderId: entry.senderId });
    }
    let done = 0;
    while (done < list.length && list[done].waiting.size === 0) done++;
    if (done > 0) list.splice(0, done);
    if (list.length === 0) this.byConversation.delete(conversationId);
    return due;
  }
}
