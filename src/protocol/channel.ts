/**
 * The established channel: application messages in and out as AES-GCM records. Never throws out
 * of a stream event: a bad record sends a `bad_record` alert (when possible) and closes with that
 * error. The small records sent in one event-loop turn are sealed together when the turn ends
 * (one AEAD call) into one buffer and leave as one socket write; a record with data or a large
 * body flushes those first and is written on its own.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeAppMessage, encodeAppJson, encodeAppParts } from './app-payload.js';
import type { FrameDecoder } from './frame.js';
import { endStream } from './handshake-io.js';
import { encodeWireError, parseJsonObject, parseWireError, wireErrorToException } from './messages.js';
import { ContentType, RecordOpener, RecordSealer, checkRecordFits, type ContentTypeValue } from './record.js';
import { ownedCopy } from './keys.js';
import { deriveTicketPsk } from './resumption.js';
import type { AppMessage, SecureChannel, Welcome } from './types.js';

/**
 * Bodies up to this size (JSON only, no data) wait for the end of the turn to be sealed with the
 * others; bigger ones, and records with data (file chunks), are sealed and written at once, so a
 * caller's `send` return value still reflects them and the data buffer is not held past the call.
 */
const COALESCE_MAX_BODY = 16 * 1024;

export interface ChannelInit<T> {
  stream: Duplex;
  decoder: FrameDecoder;
  /** Frames that arrived with the last handshake message; delivered before any new data. */
  pending: Buffer[];
  sealer: RecordSealer;
  opener: RecordOpener;
  peer: T;
  welcome: Welcome;
  maxFrameSize: number;
  log: Logger;
  /** res_master of this session (docs/PROTOCOL.md §9): tickets' PSKs derive from it; erased at close. */
  resumptionMaster?: Buffer;
  /** True when this channel came from a resumed handshake. */
  resumed?: boolean;
}

export class Channel<T = unknown> extends EventEmitter implements SecureChannel<T> {
  readonly peer: T;
  readonly welcome: Welcome;
  private readonly stream: Duplex;
  private readonly decoder: FrameDecoder;
  private readonly sealer: RecordSealer;
  private readonly opener: RecordOpener;
  private readonly maxFrameSize: number;
  private readonly log: Logger;
  private isClosed = false;
  /** Small application-record bodies sent this turn, not yet sealed (null: none; flushed on nextTick). */
  private queued: Buffer[] | null = null;
  /** Frame bytes the queued bodies will take once sealed. */
  private queuedBytes = 0;
  /** A queued send returned false: a 'drain' is owed even if the flush's write needs none. */
  private drainOwed = false;
  /** Set by pauseReading: frames already decoded wait here instead of being delivered. */
  private readPaused = false;
  private heldFrames: Buffer[] = [];
  private readonly resumptionMaster: Buffer | undefined;
  private readonly dataListener: (chunk: Buffer) => void;
  readonly resumed: boolean;

  constructor(init: ChannelInit<T>) {
    super();
    // Kept for the session's life: in memory of its own (keys.ts ownedCopy), the given one erased.
    this.resumptionMaster = init.resumptionMaster && ownedCopy(init.resumptionMaster);
    init.resumptionMaster?.fill(0);
    this.resumed = init.resumed ?? false;
    this.peer = init.peer;
    this.welcome = init.welcome;
    this.stream = init.stream;
    this.decoder = init.decoder;
    this.sealer = init.sealer;
    this.opener = init.opener;
    this.maxFrameSize = init.maxFrameSize;
    this.log = init.log;
    this.dataListener = this.listen();
    // Deliver only after the awaiting caller has had a chance to attach its 'message' listener.
    setImmediate(() => {
      this.stream.on('data', this.dataListener);
      this.heldFrames.push(...init.pending);
      this.readPaused = true;
      this.resumeReading();
    });
  }

  /**
   * The stream listeners: anonymous arrows made here, not arrow class fields — under tsx (the
   * bench, `npm run dev`) esbuild's keepNames gives every named per-instance function its own
   * property array (≈ 256 B each, 6 per channel in a heap snapshot) — and not in the constructor,
   * whose closures would keep `init` (and the handshake buffers it holds) alive with the channel.
   */
  private listen(): (chunk: Buffer) => void {
    this.stream.on('error', (err: Error) => this.onError(err));
    this.stream.on('end', () => this.onEnd());
    this.stream.on('close', () => this.onStreamClose());
    this.stream.on('drain', () => {
      this.drainOwed = false;
      this.emit('drain');
    });
    return (chunk: Buffer) => this.onData(chunk);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get bufferedBytes(): number {
    return this.stream.writableLength + this.queuedBytes;
  }

  get readingPaused(): boolean {
    return this.readPaused;
  }

  /**
   * Backpressure on the peer: stop delivering messages and stop reading the socket (the kernel's
   * receive window then pushes back on the sender). Frames already decoded are held, not dropped.
   */
  pauseReading(): void {
    if (this.readPaused || this.isClosed) return;
    this.readPaused = true;
    this.stream.pause();
  }

  resumeReading(): void {
    if (!this.readPaused || this.isClosed) return;
    this.readPaused = false;
    while (this.heldFrames.length > 0 && !this.readPaused && !this.isClosed) this.onFrame(this.heldFrames.shift() as Buffer);
    if (this.readPaused || this.isClosed) return;
    if (this.decoder.failure) {
      this.fail(this.decoder.failure);
      return;
    }
    this.stream.resume();
  }

  ticketPsk(ticketNonce: Buffer): Buffer {
    if (!this.resumptionMaster || this.isClosed) throw new SecureChatError('connection_closed', 'No resumption secret on this channel.');
    return deriveTicketPsk(this.resumptionMaster, ticketNonce);
  }

  send(msg: AppMessage, data?: Buffer): boolean {
    if (this.isClosed) return false;
    return this.sendEncoded(encodeAppJson(msg), data);
  }

  sendEncoded(json: Buffer, data?: Buffer): boolean {
    if (this.isClosed) return false;
    if (data === undefined && json.length <= COALESCE_MAX_BODY) {
      checkRecordFits(json.length, this.maxFrameSize);
      return this.queue(json);
    }
    const { contentType, parts, length } = encodeAppParts(json, data);
    // The caller's mistake, not the peer's: report it synchronously and keep the channel.
    checkRecordFits(length, this.maxFrameSize);
    // Records keep their order: what this turn queued goes out first.
    this.flush();
    if (this.isClosed) return false;
    return this.writeRecord(contentType, parts);
  }

  fail(err: SecureChatError): void {
    if (this.isClosed) return;
    this.log.debug('channel failed', { code: err.code, reason: err.reason });
    this.flush();
    if (this.isClosed) return;
    this.finish(err, this.sealQuietly(ContentType.alert, encodeWireError(err)));
  }

  close(): void {
    if (this.isClosed) return;
    this.flush();
    if (this.isClosed) return;
    this.finish(undefined, this.sealQuietly(ContentType.closeNotify, Buffer.alloc(0)));
  }

  /**
   * Queues a small application record for the end of the turn. Returns what a write of all the
   * queued bytes would return (below the stream's high-water mark). A false here is always
   * followed by 'drain': the stream's, when the flush's write returns false, else our own (a
   * socket whose write completes at once returns true with no 'drain' to come, whatever the size).
   */
  private queue(json: Buffer): boolean {
    if (this.queued === null) {
      this.queued = [json];
      process.nextTick(flushChannel, this);
    } else {
      this.queued.push(json);
    }
    this.queuedBytes += RecordSealer.frameLength(json.length);
    const stream = this.stream;
    const ok = !stream.writableNeedDrain && stream.writableLength + this.queuedBytes < stream.writableHighWaterMark;
    if (!ok) this.drainOwed = true;
    return ok;
  }

  /** Seals the queued bodies in one call into one buffer and writes it (one socket write per turn); runs at the end of the turn, or earlier when order requires. */
  flush(): void {
    const bodies = this.queued;
    if (bodies === null) return;
    const bytes = this.queuedBytes;
    this.queued = null;
    this.queuedBytes = 0;
    if (this.isClosed || !this.stream.writable) return;
    const frames = Buffer.allocUnsafe(bytes);
    try {
      this.sealer.sealFrames(ContentType.application, bodies, frames, 0);
    } catch (err) {
      this.fail(toSecureChatError(err));
      return;
    }
    if (this.stream.write(frames)) this.payOwedDrain();
    else this.drainOwed = false; // the stream's own 'drain' follows and is passed on
  }

  /** Emits the 'drain' a false from queue() promised, after the caller has had a chance to listen. */
  private payOwedDrain(): void {
    if (!this.drainOwed) return;
    this.drainOwed = false;
    process.nextTick(() => {
      if (!this.isClosed) this.emit('drain');
    });
  }

  private writeRecord(contentType: ContentTypeValue, body: Buffer | Buffer[]): boolean {
    let frame: Buffer;
    try {
      frame = this.sealer.seal(contentType, body);
    } catch (err) {
      this.fail(toSecureChatError(err));
      return false;
    }
    return this.stream.write(frame);
  }

  private sealQuietly(contentType: ContentTypeValue, body: Buffer): Buffer | undefined {
    try {
      return this.sealer.seal(contentType, body);
    } catch {
      return undefined;
    }
  }

  /** Marks closed, erases keys, writes a last record if any, ends the stream, emits 'close' once. */
  private finish(err: SecureChatError | undefined, last?: Buffer): void {
    if (this.isClosed) return;
    // What this turn queued goes out before the end (fail/close flushed before sealing `last`).
    this.flush();
    if (this.isClosed) return;
    this.isClosed = true;
    this.stream.off('data', this.dataListener);
    this.heldFrames = [];
    this.sealer.erase();
    this.opener.erase();
    this.resumptionMaster?.fill(0);
    endStream(this.stream, last);
    process.nextTick(() => this.emit('close', err));
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(toSecureChatError(err));
      return;
    }
    for (let i = 0; i < frames.length; i++) {
      if (this.isClosed) return;
      if (this.readPaused) {
        // At most one socket chunk's worth of frames: the socket itself is paused.
        this.heldFrames.push(...frames.slice(i));
        return;
      }
      this.onFrame(frames[i]);
    }
    if (this.decoder.failure && !this.readPaused) this.fail(this.decoder.failure);
  }

  private onFrame(frame: Buffer): void {
    let record;
    try {
      // The frame is ours (a slice of a socket chunk or the decoder's copy) and is not read again.
      record = this.opener.open(frame, true);
    } catch (err) {
      this.fail(toSecureChatError(err, 'bad_record'));
      return;
    }
    switch (record.contentType) {
      case ContentType.application:
      case ContentType.applicationWithData: {
        let decoded;
        try {
          decoded = decodeAppMessage(record.contentType, record.body);
        } catch (err) {
          this.fail(toSecureChatError(err, 'malformed'));
          return;
        }
        try {
          this.emit('message', decoded.msg, decoded.data);
        } catch (err) {
          // A listener bug must not escape into the socket's event loop.
          this.log.error('message listener threw', { error: String(err) });
          this.fail(new SecureChatError('internal', undefined, { cause: err }));
        }
        return;
      }
      case ContentType.closeNotify:
        this.finish(undefined);
        return;
      case ContentType.alert: {
        let peerErr: SecureChatError;
        try {
          peerErr = wireErrorToException(parseWireError(parseJsonObject(record.body, 4096)));
        } catch {
          peerErr = new SecureChatError('internal', 'The peer sent an unreadable error.', { details: { fromPeer: true } });
        }
        this.finish(peerErr);
        return;
      }
      default:
        this.fail(new SecureChatError('unexpected_message', 'Handshake record after the handshake.'));
    }
  }

  // The socket's end/close/error usually follow a close_notify that already finished the channel:
  // building the (then discarded) error, with its stack trace, cost ~1 % of a handshake's CPU.
  private onEnd(): void {
    if (this.isClosed) return;
    // EOF without close_notify: possibly a truncation attack, so the close carries an error.
    const truncated = this.decoder.pendingBytes > 0;
    this.finish(
      truncated
        ? new SecureChatError('bad_record', 'The connection closed in the middle of a record.', { reason: 'truncated' })
        : new SecureChatError('connection_closed', undefined, { reason: 'no_close_notify' }),
    );
  }

  private onStreamClose(): void {
    if (this.isClosed) return;
    this.finish(new SecureChatError('connection_closed', undefined, { reason: 'closed' }));
  }

  private onError(err: Error): void {
    if (this.isClosed) return;
    this.finish(new SecureChatError('connection_closed', undefined, { reason: 'socket_error', cause: err }));
  }
}

/** The end-of-turn flush (process.nextTick(flushChannel, channel): no closure per channel). */
function flushChannel(channel: Channel): void {
  channel.flush();
}
