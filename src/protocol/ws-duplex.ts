/**
 * A WebSocket as the byte stream the handshake and channel expect (docs/PROTOCOL.md §1.1): one
 * binary WebSocket message carries exactly one frame (its 4-byte length header included), in both
 * directions. Inbound messages are checked against that rule before their bytes reach the frame
 * decoder; outbound bytes are split at frame boundaries, so a write holding several frames (the
 * server's hello flight) still leaves as one message per frame.
 *
 * Backpressure: the Duplex's write callback fires only once the WebSocket handed the message to its
 * socket, so `writableLength` counts what is not yet on the wire, like a TCP socket's; reading
 * pauses the WebSocket (and so its TCP socket) when the stream's consumer stops reading.
 *
 * Node-only (stream.Duplex); it depends on a minimal WebSocket shape, not on the `ws` package.
 */
import { Duplex } from 'node:stream';
import { SecureChatError } from '../errors.js';
import { FRAME_HEADER_SIZE } from './frame.js';
import { HANDSHAKE_FRAMES } from './types.js';

/** The close codes this transport uses (RFC 6455 §7.4.1) and the reasons sent with them. */
export const WS_CLOSE = {
  normal: 1000,
  /** A text message: the protocol is binary only. */
  unsupportedData: 1003,
  /** A binary message that is not exactly one frame. */
  protocolError: 1002,
  /**
   * The `ws` package closes with this code itself when a message exceeds maxPayload: 64 KiB + 4
   * before the handshake completes, maxFrameSize + 4 after.
   */
  messageTooBig: 1009,
} as const;
export const WS_REASON = {
  textMessage: 'malformed:text_message',
  notOneFrame: 'malformed:not_one_frame',
  tooBig: 'frame_too_large',
} as const;

/** What this adapter needs of a WebSocket; `ws`'s WebSocket has it. */
export interface MessageSocket {
  readonly readyState: number;
  send(data: Buffer, options: { binary: true }, cb: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

const OPEN = 1;
/** The `ws` package's error code for a message above its maxPayload. */
const WS_TOO_BIG = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';

export interface WebSocketDuplexOptions {
  /**
   * Called once the peer's handshake frames (HANDSHAKE_FRAMES messages) have arrived, before the
   * next message is parsed: the server raises the socket's message limit from the handshake bound
   * to the record bound here (docs/PROTOCOL.md §1.1).
   */
  afterHandshakeFrames?: () => void;
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class WebSocketDuplex extends Duplex {
  /** Outbound bytes not yet forming a whole frame (writes normally hold whole frames only). */
  private partial: Buffer = Buffer.alloc(0);
  /** Why the peer or we closed the WebSocket, for logs and tests. */
  closeCode: number | undefined;
  closeReason = '';

  /** Frames received so far (one per message). */
  private frames = 0;

  constructor(
    private readonly ws: MessageSocket,
    private readonly options: WebSocketDuplexOptions = {},
  ) {
    super({ allowHalfOpen: false });
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString('utf8');
      this.push(null);
      // The WebSocket is gone: nothing more can be written either.
      if (!this.destroyed) this.destroy();
    });
    ws.on('error', (err) => this.destroy(this.coded(err)));
  }

  /**
   * The `ws` parser's "message too big" as our code: the handshake's bound while the peer's
   * handshake frames are still due, the record bound after. Other socket errors pass unchanged.
   */
  private coded(err: Error): Error {
    if ((err as { code?: unknown }).code !== WS_TOO_BIG) return err;
    const code = this.frames < HANDSHAKE_FRAMES ? 'handshake_frame_too_large' : 'frame_too_large';
    return new SecureChatError(code, undefined, { cause: err });
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.destroyed) return;
    if (!isBinary) return this.refuse(WS_CLOSE.unsupportedData, WS_REASON.textMessage);
    const bytes = toBuffer(data);
    if (bytes.length < FRAME_HEADER_SIZE || bytes.readUInt32BE(0) !== bytes.length - FRAME_HEADER_SIZE) {
      return this.refuse(WS_CLOSE.protocolError, WS_REASON.notOneFrame);
    }
    // Counted before the push: the handshake may answer (and end) synchronously inside it.
    if (++this.frames === HANDSHAKE_FRAMES) this.options.afterHandshakeFrames?.();
    if (!this.push(bytes)) this.ws.pause();
  }

  /** Closes with a code the peer can read, and ends the stream as if the peer had hung up. */
  refuse(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    if (this.ws.readyState === OPEN) this.ws.close(code, reason);
    this.push(null);
    this.destroy();
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.sendFrames([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    this.sendFrames(chunks.map((c) => c.chunk), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.ws.readyState === OPEN) this.ws.close(WS_CLOSE.normal);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.ws.readyState === OPEN) {
      if (err) this.ws.terminate();
      else this.ws.close(WS_CLOSE.normal);
    }
    callback(err);
  }

  /** Splits the bytes into frames and sends one message each; calls back after the last is sent. */
  private sendFrames(chunks: Buffer[], callback: (err?: Error | null) => void): void {
    const frames: Buffer[] = [];
    for (const chunk of chunks) {
      let bytes = this.partial.length > 0 ? Buffer.concat([this.partial, chunk]) : chunk;
      while (bytes.length >= FRAME_HEADER_SIZE) {
        const end = FRAME_HEADER_SIZE + bytes.readUInt32BE(0);
        if (bytes.length < end) break;
        frames.push(end === bytes.length ? bytes : bytes.subarray(0, end));
        bytes = bytes.subarray(end);
      }
      this.partial = bytes;
    }
    if (frames.length === 0) return callback();
    if (this.ws.readyState !== OPEN) return callback(new Error('WebSocket is not open'));
    let left = frames.length;
    let failed: Error | undefined;
    for (const frame of frames) {
      this.ws.send(frame, { binary: true }, (err) => {
        failed ??= err ?? undefined;
        if (--left === 0) callback(failed ?? null);
      });
    }
  }
}
