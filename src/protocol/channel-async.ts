/**
 * The established channel over an async provider and a frame link (the browser's): application
 * records in both directions, close_notify, alerts. Browser-safe (no Buffer, no node:*).
 *
 * Ordering: record sequence numbers are taken when `send` is called (AsyncRecordSealer), and the
 * sealed frames are written through one promise chain in that same order, however long each
 * encryption took. Inbound frames are opened one at a time, so handlers see records in order.
 */
import { SecureChatError, toSecureChatError } from '../errors.js';
import { concatBytes, u32be, utf8 } from './bytes.js';
import { decodeAppMessage } from './app-payload.js';
import type { FrameLink } from './frame-link.js';
import { parseJsonObject, parseWireError, wireErrorToException } from './messages.js';
import type { AsyncRecordOpener, AsyncRecordSealer } from './record-async.js';
import { ContentType } from './record-common.js';
import type { AppMessage, Welcome } from './types.js';

export type AppData = Uint8Array | undefined;

export interface AsyncChannelParts<T> {
  link: FrameLink;
  sealer: AsyncRecordSealer;
  opener: AsyncRecordOpener;
  peer: T;
  welcome: Welcome;
}

/** The record body of one application message: JSON alone, or u32 json length ‖ json ‖ data. */
export function encodeAppBody(msg: AppMessage, data?: Uint8Array): { contentType: 0x02 | 0x03; body: Uint8Array } {
  const json = utf8(JSON.stringify(msg));
  if (data === undefined) return { contentType: ContentType.application, body: json };
  return { contentType: ContentType.applicationWithData, body: concatBytes(u32be(json.length), json, data) };
}

export class AsyncChannel<T = unknown> {
  readonly peer: T;
  readonly welcome: Welcome;
  /** One decrypted application record; set before `start()`. */
  onMessage: (msg: AppMessage, data: AppData) => void = () => undefined;
  /** Once, when the channel ended; `err` unless it was a clean close_notify. */
  onClose: (err: SecureChatError | undefined) => void = () => undefined;
  private readonly link: FrameLink;
  private readonly sealer: AsyncRecordSealer;
  private readonly opener: AsyncRecordOpener;
  private writes: Promise<void> = Promise.resolve();
  private ended = false;

  constructor(parts: AsyncChannelParts<T>) {
    this.link = parts.link;
    this.sealer = parts.sealer;
    this.opener = parts.opener;
    this.peer = parts.peer;
    this.welcome = parts.welcome;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Starts delivering records (after the caller set its handlers). */
  start(): void {
    void this.readLoop();
  }

  /** Encrypts and writes one record; resolves once it was handed to the socket. */
  send(msg: AppMessage, data?: Uint8Array): Promise<void> {
    if (this.ended) return Promise.reject(new SecureChatError('connection_closed'));
    const { contentType, body } = encodeAppBody(msg, data);
    return this.write(this.sealer.seal(contentType, body));
  }

  /** close_notify, then the WebSocket closes. */
  close(): void {
    if (this.ended) return;
    const last = this.write(this.sealer.seal(ContentType.closeNotify, new Uint8Array(0)));
    void last.catch(() => undefined).then(() => this.link.close());
    this.finish(undefined);
  }

  private write(sealed: Promise<Uint8Array>): Promise<void> {
    const next = this.writes.then(async () => this.link.send(await sealed));
    this.writes = next.catch(() => undefined);
    return next;
  }

  private async readLoop(): Promise<void> {
    while (!this.ended) {
      let record;
      try {
        record = await this.opener.open(await this.link.next());
      } catch (err) {
        this.finish(toSecureChatError(err, 'bad_record'));
        this.link.close();
        return;
      }
      if (this.ended) return;
      switch (record.contentType) {
        case ContentType.application:
        case ContentType.applicationWithData: {
          let decoded;
          try {
            decoded = decodeAppMessage(record.contentType, record.body);
          } catch (err) {
            this.finish(toSecureChatError(err, 'malformed'));
            this.link.close();
            return;
          }
          try {
            this.onMessage(decoded.msg, decoded.data);
          } catch (err) {
            this.finish(new SecureChatError('internal', 'A message handler threw.', { cause: err }));
            this.link.close();
            return;
          }
          break;
        }
        case ContentType.closeNotify:
          this.finish(undefined);
          this.link.close();
          return;
        case ContentType.alert: {
          let peerErr: SecureChatError;
          try {
            peerErr = wireErrorToException(parseWireError(parseJsonObject(record.body, 4096)));
          } catch {
            peerErr = new SecureChatError('internal', 'The peer sent an unreadable error.', { details: { fromPeer: true } });
          }
          this.finish(peerErr);
          this.link.close();
          return;
        }
        default:
          this.finish(new SecureChatError('unexpected_message', 'Handshake record after the handshake.'));
          this.link.close();
          return;
      }
    }
  }

  private finish(err: SecureChatError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.opener.erase();
    this.onClose(err);
  }
}
