/**
 * Gets stored messages to their recipients' sessions, in order and without loss. A session starts
 * in catch-up mode (replaying what its cursors say it has not acknowledged), then switches to live
 * pushes. A session whose socket stops draining goes back to catch-up instead of buffering without
 * bound: the messages are in the store, so nothing is dropped, they are replayed once it drains.
 */
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import { encodeAppJson } from '../protocol/app-payload.js';
import { caughtUpPush } from '../protocol/caught-up.js';
import type { AppMessage } from '../protocol/types.js';
import type { MessageView, Storage } from '../storage/types.js';
import type { Hub } from './hub.js';
import { Receipts } from './receipts.js';
import type { Session } from './session.js';

export interface DeliveryOptions {
  /** Above this many bytes queued on a socket, live pushes stop and the session catches up later. */
  highWaterBytes: number;
  /** Messages per replay page; a full page waits for the client's ack before the next. */
  pageSize: number;
  retryMs: number;
}

interface SessionState {
  mode: 'live' | 'catchup';
  replaying: boolean;
  /** A live message arrived during catch-up: query the store once more before going live. */
  dirty: boolean;
  /** Highest message id pushed to this session, per conversation (so replay and live never repeat). */
  sentUpto: Map<number, number>;
  retry: NodeJS.Timeout | null;
  /** Messages replayed since login, until the first switch to live announces them with `caught_up`. */
  loginReplayed: number | null;
  /** Removes the session listeners attach() added (a logout/login cycle must not stack them). */
  unlisten: () => void;
}

export interface Recipient {
  userId: number;
  username: string;
}

/** The wire shape of a stored message (docs/MESSAGES.md, push `message`). */
export function messagePush(view: MessageView, dmRecipient: string): AppMessage {
  const push: AppMessage = {
    type: 'message',
    id: view.id,
    seq: view.seq,
    conversation_id: view.conversationId,
    kind: view.kind,
    from: view.senderName,
    from_uuid: view.senderUuid,
    created_at: view.createdAt,
  };
  if (view.conversationKind === 'group') push.group = view.conversationName;
  else push.to = dmRecipient;
  if (view.kind === 'file') {
    push.file = JSON.parse(view.body) as unknown;
    push.text = '';
  } else {
    push.text = view.body;
  }
  return push;
}

/**
 * The JSON of a message's push, encoded once and shared: a group push is the same for every
 * recipient (encoded once per message; `to` is not in it), a DM push differs only in `to` (once
 * per recipient, not per session).
 */
function pushJson(view: MessageView, dmRecipient: string): Buffer {
  return encodeAppJson(messagePush(view, dmRecipient));
}

export class Delivery {
  private readonly states = new WeakMap<Session, SessionState>();
  readonly receipts = new Receipts();

  constructor(
    private readonly storage: Storage,
    private readonly hub: Hub,
    private readonly log: Logger,
    private readonly options: DeliveryOptions,
  ) {}

  /** Starts delivery for a session that just logged in: replays what is pending, then goes live. */
  attach(session: Session): void {
    if (this.states.has(session)) return;
    const onDrain = (): void => this.resume(session);
    const onClose = (): void => {
      if (state.retry) clearTimeout(state.retry);
    };
    const unlisten = (): void => {
      session.off('drain', onDrain);
      session.off('close', onClose);
    };
    const state: SessionState = { mode: 'catchup', replaying: false, dirty: false, sentUpto: new Map(), retry: null, loginReplayed: 0, unlisten };
    this.states.set(session, state);
    session.on('drain', onDrain);
    session.on('close', onClose);
    this.resume(session);
  }

  detach(session: Session): void {
    const state = this.states.get(session);
    if (state?.retry) clearTimeout(state.retry);
    state?.unlisten();
    this.states.delete(session);
  }

  /**
   * A message was just stored: in a cluster the doorbell decides (cluster/doorbell.ts); alone, it
   * is pushed to every online session of each recipient (never the sender's) at once.
   */
  publish(view: MessageView, recipients: readonly Recipient[]): void {
    this.receipts.track(view.conversationId, view.id, view.senderId, recipients);
    if (this.stored) this.stored(view, recipients);
    else this.pushLive(view, recipients);
  }

  /** Set by the cluster wiring: takes over what `publish` does after tracking receipts. */
  stored: ((view: MessageView, recipients: readonly Recipient[]) => void) | null = null;
  /** Set by the cluster wiring: told of every cursor advance, so receipts reach senders on other nodes. */
  acked: ((conversationId: number, userId: number, username: string, cursor: number) => void) | null = null;

  /** Live push to this process's sessions of the recipients (sessions in catch-up get it from the store). */
  pushLive(view: MessageView, recipients: readonly Recipient[]): void {
    const isGroup = view.conversationKind === 'group';
    // Encoded when first needed (nobody live: never): per message for a group, per recipient for a DM.
    let group: Buffer | null = null;
    for (const r of recipients) {
      if (r.userId === view.senderId) continue;
      let json: Buffer | null = group;
      for (const session of this.hub.sessionsOf(r.userId)) {
        const state = this.states.get(session);
        if (!state || !this.shouldPush(session, state, view)) continue;
        if (json === null) {
          json = pushJson(view, r.username);
          if (isGroup) group = json;
        }
        session.sendEncoded(json);
        state.sentUpto.set(view.conversationId, view.id);
      }
    }
  }

  /**
   * Makes the session read its pending messages from the store before any further live push (a
   * doorbell was missed or came out of order): nothing is lost, nothing shown twice (sentUpto).
   */
  catchUp(session: Session): void {
    const state = this.states.get(session);
    if (!state) return;
    state.dirty = true;
    if (state.mode === 'live') state.mode = 'catchup';
    this.resume(session);
  }

  /** Receipts due because `userId` (possibly on another node) acknowledged up to `cursor`. */
  receiptsFor(conversationId: number, userId: number, username: string, cursor: number): void {
    for (const receipt of this.receipts.acknowledge(conversationId, userId, cursor)) {
      this.hub.sendToUser(receipt.senderId, { type: 'delivered', id: receipt.messageId, conversation_id: conversationId, to: username });
    }
  }

  /** The client has everything ≤ upto: advance its cursor, send receipts, continue a catch-up. */
  async acknowledge(session: Session, conversationId: number, upto: number): Promise<number> {
    const userId = session.userId;
    if (userId === null) throw new SecureChatError('not_logged_in');
    const cursor = await this.storage.markDelivered(userId, conversationId, upto);
    if (cursor === null) throw new SecureChatError('not_member', 'You are not in that conversation.');
    this.receiptsFor(conversationId, userId, session.username, cursor);
    this.acked?.(conversationId, userId, session.username, cursor);
    this.resume(session);
    return cursor;
  }

  /** Whether a live push goes to this session now; in catch-up, or past its bound, it is read from the store later. */
  private shouldPush(session: Session, state: SessionState, view: MessageView): boolean {
    if (state.mode === 'catchup') {
      state.dirty = true;
      return false;
    }
    if (view.id <= (state.sentUpto.get(view.conversationId) ?? 0)) return false;
    if (this.backlogged(session)) {
      this.log.info('slow reader: switching session to catch-up', { session: session.id, user: session.username, buffered: session.channel.bufferedBytes });
      state.mode = 'catchup';
      state.dirty = true;
      return false;
    }
    return true;
  }

  /** The session's send path is past its bound (or ours): pushes wait for 'drain' and a catch-up. */
  private backlogged(session: Session): boolean {
    return session.sendBacklogged || session.channel.bufferedBytes > this.options.highWaterBytes;
  }

  private resume(session: Session): void {
    const state = this.states.get(session);
    if (!state || state.mode === 'live' || state.replaying || session.closed) return;
    void this.replay(session, state);
  }

  private async replay(session: Session, state: SessionState): Promise<void> {
    const userId = session.userId;
    if (userId === null) return;
    state.replaying = true;
    try {
      for (;;) {
        state.dirty = false;
        const page = await this.storage.pendingFor(userId, this.options.pageSize);
        if (session.closed || this.states.get(session) !== state) return;
        for (const view of page) {
          // Mid-page too: a page of large messages must not outgrow the session's send bound.
          if (this.backlogged(session)) return;
          if (view.id <= (state.sentUpto.get(view.conversationId) ?? 0)) continue;
          session.send(messagePush(view, session.username));
          state.sentUpto.set(view.conversationId, view.id);
          if (state.loginReplayed !== null) state.loginReplayed++;
        }
        // Wait for 'drain' (slow reader) or for the client's ack of a full page (flow control).
        if (this.backlogged(session)) return;
        if (page.length >= this.options.pageSize) return;
        if (!state.dirty) {
          state.mode = 'live';
          if (state.loginReplayed !== null) {
            session.send(caughtUpPush(state.loginReplayed));
            state.loginReplayed = null;
          }
          return;
        }
      }
    } catch (err) {
      const scErr = toSecureChatError(err);
      this.log.warn('replay failed; will retry', { session: session.id, user: session.username, code: scErr.code });
      if (!state.retry) {
        state.retry = setTimeout(() => {
          state.retry = null;
          this.resume(session);
        }, this.options.retryMs);
        state.retry.unref();
      }
    } finally {
      state.replaying = false;
    }
  }
}
