/**
 * Frame I/O during the handshake: a pull-style reader over the stream (one frame at a time, the
 * stream paused while nobody waits, so a flooding peer is not buffered), a deadline, and the
 * hand-over of the stream and any frames already received to the channel.
 */
import type { Duplex } from 'node:stream';
import { SecureChatError, toSecureChatError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { FrameDecoder } from './frame.js';
import { HANDSHAKE_FRAMES, HANDSHAKE_MAX_FRAME } from './types.js';

let quiet: Logger | undefined;
/** One shared silent logger: building a winston logger per connection would be wasteful. */
export function defaultLogger(): Logger {
  return (quiet ??= silentLogger());
}

export class HandshakeReader {
  readonly decoder: FrameDecoder;
  private readonly frames: Buffer[] = [];
  private waiter: { resolve: (f: Buffer) => void; reject: (e: SecureChatError) => void } | undefined;
  private failure: SecureChatError | undefined;
  private ended = false;

  constructor(
    private readonly stream: Duplex,
    maxFrameSize: number,
  ) {
    // The peer's handshake frames (hello, auth/finished) are bounded at 64 KiB; the channel that
    // takes this decoder over reads records under maxFrameSize.
    this.decoder = new FrameDecoder(maxFrameSize, { frames: HANDSHAKE_FRAMES, maxFrameSize: Math.min(HANDSHAKE_MAX_FRAME, maxFrameSize) });
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
  }

  next(): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new SecureChatError('internal', 'Concurrent handshake reads.'));
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.stream.resume();
    });
  }

  /** Rejects the pending and all later reads (deadline, local abort). */
  abort(err: SecureChatError): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }

  /** Stops reading; returns frames received but not consumed. The stream is left paused. */
  detach(): Buffer[] {
    this.stream.pause();
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    this.stream.off('error', this.onError);
    return this.frames.splice(0);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.failure) return;
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.abort(toSecureChatError(err));
      return;
    }
    for (const f of frames) {
      const w = this.waiter;
      if (w) {
        this.waiter = undefined;
        w.resolve(f);
      } else this.frames.push(f);
    }
    if (this.decoder.failure) this.abort(this.decoder.failure);
    // Backpressure: nobody is waiting, so stop reading until someone asks.
    else if (!this.waiter && this.frames.length > 0) this.stream.pause();
  };

  private readonly onEnd = (): void => {
    if (this.ended) return;
    this.ended = true;
    const truncated = this.decoder.pendingBytes > 0;
    this.abort(new SecureChatError('connection_closed', truncated ? 'The peer closed mid-frame.' : 'The peer closed during the handshake.', {
      reason: truncated ? 'truncated' : 'eof',
    }));
  };

  private readonly onError = (err: Error): void => {
    // A transport that refused a frame itself (the WebSocket parser's size limit) says so with a code.
    this.abort(err instanceof SecureChatError ? err : new SecureChatError('connection_closed', undefined, { reason: 'socket_error', cause: err }));
  };
}

/**
 * Runs the handshake body under a deadline. On timeout the reader is aborted (so the body unwinds)
 * and `onTimeout` may still send a coded error before the stream is destroyed.
 */
export async function withDeadline<R>(timeoutMs: number, reader: HandshakeReader, body: () => Promise<R>, onTimeout: (err: SecureChatError) => void): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new SecureChatError('handshake_timeout');
      onTimeout(err);
      reader.abort(err);
      reject(err);
    }, timeoutMs);
  });
  const work = body();
  work.catch(() => undefined); // the race below reports the error; the loser must not be unhandled
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function ignoreError(): void {}

/** Writes a last message (if any) and then closes; destroys if the peer does not read it promptly. */
export function endStream(stream: Duplex, last?: Buffer): void {
  // Late EPIPE/ECONNRESET after we gave up on the stream must not become an uncaught 'error'.
  if (!stream.listeners('error').includes(ignoreError)) stream.on('error', ignoreError);
  if (stream.destroyed) return;
  try {
    if (last && stream.writable) stream.end(last, () => stream.destroy());
    else if (stream.writable) stream.end(() => stream.destroy());
    else stream.destroy();
  } catch {
    stream.destroy();
  }
  setTimeout(() => stream.destroy(), 2_000).unref();
}

/**
 * The end of a handshake, decided once: either `succeed()` (the caller builds the channel) or
 * `fail(err)`, which tells the peer when it can — never about a dead connection or an error the
 * peer itself sent — and closes the stream.
 */
export class HandshakeEnding {
  private ended = false;
  /** How to tell the peer about a failure; the role replaces it as keys come into existence. */
  sendError: ((err: SecureChatError) => Buffer) | undefined;

  constructor(
    private readonly stream: Duplex,
    private readonly reader: HandshakeReader,
    private readonly log: Logger,
  ) {}

  readonly fail = (err: SecureChatError): void => {
    if (this.ended) return;
    this.ended = true;
    this.reader.detach();
    let last: Buffer | undefined;
    if (this.sendError && err.code !== 'connection_closed' && err.details?.fromPeer !== true) {
      try {
        last = this.sendError(err);
      } catch {
        last = undefined;
      }
    }
    endStream(this.stream, last);
    this.log.debug('handshake failed', { code: err.code, reason: err.reason });
  };

  /** Marks success and returns what the reader buffered past the handshake; too late after the deadline. */
  succeed(): Buffer[] {
    if (this.ended) throw new SecureChatError('handshake_timeout');
    this.ended = true;
    return this.reader.detach();
  }

  /** Runs the role's body under the deadline; any failure ends the handshake through `fail`. */
  async run<R>(timeoutMs: number, body: () => Promise<R>): Promise<R> {
    try {
      return await withDeadline(timeoutMs, this.reader, body, this.fail);
    } catch (err) {
      const e = toSecureChatError(err);
      this.fail(e);
      throw e;
    }
  }
}
