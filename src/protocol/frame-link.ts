/**
 * A message transport as a pull-style frame source, for the code paths that run in the browser
 * (docs/PROTOCOL.md §1.1): one binary WebSocket message = one frame, 4-byte header included.
 * Pure DOM/JS types: no Buffer, no node:*. A browser WebSocket cannot be paused, so what arrives
 * before it is read waits in a queue bounded in bytes (DEFAULT_MAX_QUEUED_BYTES); overflowing it
 * ends the link with `slow_reader`, as the server does to a client that does not read.
 */
import { SecureChatError } from '../errors.js';
import { readU32be } from './bytes.js';
import { checkFrameLength, FRAME_HEADER_SIZE } from './frame.js';
import { DEFAULT_MAX_FRAME } from './types.js';

/**
 * Frames received and not yet read, in bytes: 32 full frames. The largest burst the server sends
 * unasked is a file_get answer (a whole file, 10 MiB by default, in 1 MiB records) while the page
 * is still decrypting; this leaves room for three of those.
 */
export const DEFAULT_MAX_QUEUED_BYTES = 32 * (DEFAULT_MAX_FRAME + FRAME_HEADER_SIZE);

export interface FrameLink {
  /** Sends one whole frame (header ‖ payload). */
  send(frame: Uint8Array): void;
  /** The next frame's payload (header stripped); rejects once the link closed or failed. */
  next(): Promise<Uint8Array>;
  close(): void;
}

/** What this module needs of a WebSocket (the DOM one; `ws`'s has the same shape in tests). */
export interface BrowserSocket {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

const OPEN = 1;

export class WebSocketFrameLink implements FrameLink {
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private waiter: { resolve: (f: Uint8Array) => void; reject: (e: SecureChatError) => void } | undefined;
  private failure: SecureChatError | undefined;

  constructor(
    private readonly ws: BrowserSocket,
    private readonly maxFrameSize = DEFAULT_MAX_FRAME,
    private readonly maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES,
  ) {
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) =>
      this.fail(new SecureChatError('connection_closed', ev.reason ? `The connection closed (${ev.code} ${ev.reason}).` : undefined, { reason: ev.reason || 'eof' }));
    ws.onerror = () => this.fail(new SecureChatError('connection_closed', undefined, { reason: 'socket_error' }));
  }

  /** Opens a WebSocket and waits until it is open; the factory makes the socket (DOM `new WebSocket(url)`). */
  static async open(make: () => BrowserSocket, maxFrameSize = DEFAULT_MAX_FRAME): Promise<WebSocketFrameLink> {
    const ws = make();
    await new Promise<void>((resolve, reject) => {
      ws.onmessage = null;
      ws.onclose = (ev) => reject(new SecureChatError('connect_failed', `The WebSocket closed before it opened (${ev.code}).`));
      ws.onerror = () => reject(new SecureChatError('connect_failed', 'The WebSocket could not be opened.'));
      (ws as unknown as { onopen: () => void }).onopen = () => resolve();
    });
    return new WebSocketFrameLink(ws, maxFrameSize);
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  send(frame: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (this.ws.readyState !== OPEN) throw new SecureChatError('connection_closed');
    this.ws.send(frame);
  }

  next(): Promise<Uint8Array> {
    const frame = this.queue.shift();
    if (frame) {
      this.queuedBytes -= frame.length;
      return Promise.resolve(frame);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new SecureChatError('internal', 'Concurrent frame reads.'));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  close(): void {
    if (this.ws.readyState === OPEN) this.ws.close(1000);
    this.fail(new SecureChatError('connection_closed', undefined, { reason: 'local_close' }));
  }

  private onMessage(data: unknown): void {
    if (this.failure) return;
    if (!(data instanceof ArrayBuffer)) return this.refuse(1003, new SecureChatError('malformed', 'A text message on the WebSocket.', { reason: 'text_message' }));
    const bytes = new Uint8Array(data);
    if (bytes.length < FRAME_HEADER_SIZE || readU32be(bytes) !== bytes.length - FRAME_HEADER_SIZE) {
      return this.refuse(1002, new SecureChatError('malformed', 'A WebSocket message that is not one frame.', { reason: 'not_one_frame' }));
    }
    try {
      checkFrameLength(bytes.length - FRAME_HEADER_SIZE, this.maxFrameSize);
    } catch (err) {
      return this.refuse(1009, err as SecureChatError);
    }
    const payload = bytes.subarray(FRAME_HEADER_SIZE);
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve(payload);
      return;
    }
    if (this.queuedBytes + payload.length > this.maxQueuedBytes) return this.refuse(1008, new SecureChatError('slow_reader'));
    this.queue.push(payload);
    this.queuedBytes += payload.length;
  }

  private refuse(code: number, err: SecureChatError): void {
    // Browsers let script close only with 1000 or 3000–4999: the RFC 6455 code rides as 4000 + (code − 1000).
    if (this.ws.readyState === OPEN) this.ws.close(4000 + (code - 1000), err.reason ?? err.code);
    this.fail(err);
  }

  private fail(err: SecureChatError): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }
}
