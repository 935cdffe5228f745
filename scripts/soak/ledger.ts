/**
 * The soak's bookkeeping: every message sent (with a unique token in its text), whether the server
 * acknowledged it, and every arrival at every recipient. It decides what counts as delivered, lost
 * and duplicated:
 *  - delivered: a (message, recipient) pair that arrived at least once;
 *  - lost: an acknowledged message missing at a recipient (a member at send time, not the sender);
 *  - duplicate: the same token under two different message ids at one recipient (stored twice),
 *    the same id handed to the application twice on one connection (client dedup failed), or an id
 *    replayed after the server had confirmed the recipient's ack past it (cursor went backwards).
 *  - redelivered (allowed): an id replayed on a new connection that the client had received but
 *    whose ack had not reached the server before the crash; the harness drops it by id, as a
 *    client that remembers seen ids does.
 */
import type { ChatMessage } from '../../src/client/chat-client.js';

export interface SentRecord {
  token: string;
  from: string;
  kind: 'dm' | 'group';
  recipients: string[];
  status: 'pending' | 'acked' | 'failed';
  sentAt: number;
  ackedAt?: number;
  /** Message ids seen for this token, per recipient (more than one = stored twice). */
  arrivals: Map<string, Set<number>>;
}

/** Per-recipient state that survives reconnects (what a client would keep on disk). */
export interface RecipientState {
  seen: Set<number>;
  /** Cursor the server confirmed in its `ack` response, per conversation. */
  confirmedAck: Map<number, number>;
}

/** Per-connection state: starts empty at each login. */
export interface ConnectionState {
  handed: Set<number>;
  lastIdByConversation: Map<number, number>;
}

export interface Anomaly {
  kind: 'duplicate_id_on_connection' | 'duplicate_after_ack' | 'duplicate_token' | 'misdelivered' | 'unknown_token' | 'out_of_order';
  user: string;
  detail: string;
}

const TOKEN = /^soak:(\S+)/;

export class Ledger {
  readonly sent = new Map<string, SentRecord>();
  readonly anomalies: Anomaly[] = [];
  readonly failures = new Map<string, number>();
  redelivered = 0;
  private readonly recipients = new Map<string, RecipientState>();

  recipient(user: string): RecipientState {
    let s = this.recipients.get(user);
    if (!s) {
      s = { seen: new Set(), confirmedAck: new Map() };
      this.recipients.set(user, s);
    }
    return s;
  }

  newConnection(): ConnectionState {
    return { handed: new Set(), lastIdByConversation: new Map() };
  }

  record(token: string, from: string, kind: 'dm' | 'group', recipients: string[]): SentRecord {
    const rec: SentRecord = { token, from, kind, recipients, status: 'pending', sentAt: Date.now(), arrivals: new Map() };
    this.sent.set(token, rec);
    return rec;
  }

  acked(rec: SentRecord): void {
    rec.status = 'acked';
    rec.ackedAt = Date.now();
  }

  failed(rec: SentRecord, code: string): void {
    rec.status = 'failed';
    this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
  }

  confirmAck(user: string, conversationId: number, upto: number): void {
    const s = this.recipient(user);
    if (upto > (s.confirmedAck.get(conversationId) ?? 0)) s.confirmedAck.set(conversationId, upto);
  }

  /** One `message` event from a ChatClient of `user` (already deduplicated per connection by ChatClient). */
  arrived(user: string, conn: ConnectionState, msg: ChatMessage): void {
    const anomaly = (kind: Anomaly['kind'], detail: string): void => {
      this.anomalies.push({ kind, user, detail });
    };
    if (conn.handed.has(msg.id)) {
      anomaly('duplicate_id_on_connection', `id ${msg.id}`);
      return;
    }
    conn.handed.add(msg.id);
    const last = conn.lastIdByConversation.get(msg.conversation_id) ?? 0;
    if (msg.id < last) anomaly('out_of_order', `id ${msg.id} after ${last} in conversation ${msg.conversation_id}`);
    conn.lastIdByConversation.set(msg.conversation_id, Math.max(last, msg.id));

    const state = this.recipient(user);
    if (state.seen.has(msg.id)) {
      if (msg.id <= (state.confirmedAck.get(msg.conversation_id) ?? 0)) {
        anomaly('duplicate_after_ack', `id ${msg.id} replayed though the server confirmed ack upto ${state.confirmedAck.get(msg.conversation_id)}`);
      } else {
        this.redelivered++;
      }
      return;
    }
    state.seen.add(msg.id);
    const token = TOKEN.exec(msg.text)?.[1];
    const rec = token === undefined ? undefined : this.sent.get(token);
    if (!rec) {
      anomaly('unknown_token', `id ${msg.id} text ${JSON.stringify(msg.text.slice(0, 40))}`);
      return;
    }
    if (rec.from !== msg.from || !rec.recipients.includes(user)) {
      anomaly('misdelivered', `${rec.token} (from ${rec.from}, ${rec.kind}) reached ${user} as from ${msg.from}`);
      return;
    }
    let ids = rec.arrivals.get(user);
    if (!ids) {
      ids = new Set();
      rec.arrivals.set(user, ids);
    }
    ids.add(msg.id);
    if (ids.size > 1) anomaly('duplicate_token', `${rec.token} arrived as ids ${[...ids].join(', ')}`);
  }

  /** Acknowledged (message, recipient) pairs that have not arrived yet. */
  missing(): number {
    let n = 0;
    for (const rec of this.sent.values()) {
      if (rec.status !== 'acked') continue;
      for (const r of rec.recipients) if (!rec.arrivals.has(r)) n++;
    }
    return n;
  }

  /** The first `limit` acknowledged (message, recipient) pairs that never arrived, for the report. */
  lostPairs(limit = 20): Array<{ rec: SentRecord; recipient: string }> {
    const out: Array<{ rec: SentRecord; recipient: string }> = [];
    for (const rec of this.sent.values()) {
      if (rec.status !== 'acked') continue;
      for (const recipient of rec.recipients) {
        if (rec.arrivals.has(recipient)) continue;
        if (out.length >= limit) return out;
        out.push({ rec, recipient });
      }
    }
    return out;
  }

  summary(): LedgerSummary {
    let acknowledged = 0;
    let unacknowledged = 0;
    let pending = 0;
    let expected = 0;
    let delivered = 0;
    let unackedArrived = 0;
    for (const rec of this.sent.values()) {
      if (rec.status === 'acked') {
        acknowledged++;
        expected += rec.recipients.length;
        for (const r of rec.recipients) if (rec.arrivals.has(r)) delivered++;
      } else {
        if (rec.status === 'pending') pending++;
        else unacknowledged++;
        if (rec.arrivals.size > 0) unackedArrived++;
      }
    }
    const count = (kinds: Anomaly['kind'][]): number => this.anomalies.filter((a) => kinds.includes(a.kind)).length;
    return {
      sent: this.sent.size,
      acknowledged,
      unacknowledged,
      pending,
      unacknowledgedByCode: Object.fromEntries(this.failures),
      unacknowledgedArrived: unackedArrived,
      expectedDeliveries: expected,
      delivered,
      lost: expected - delivered,
      duplicates: count(['duplicate_id_on_connection', 'duplicate_after_ack', 'duplicate_token']),
      redelivered: this.redelivered,
      misdelivered: count(['misdelivered', 'unknown_token']),
      outOfOrder: count(['out_of_order']),
    };
  }
}

export interface LedgerSummary {
  sent: number;
  acknowledged: number;
  /** Sends that failed or got no response (they may or may not arrive, but never twice). */
  unacknowledged: number;
  /** Still waiting for a response when the run ended (counted as unacknowledged too). */
  pending: number;
  unacknowledgedByCode: Record<string, number>;
  unacknowledgedArrived: number;
  /** Acknowledged messages × their recipients. */
  expectedDeliveries: number;
  delivered: number;
  lost: number;
  duplicates: number;
  redelivered: number;
  misdelivered: number;
  outOfOrder: number;
}
