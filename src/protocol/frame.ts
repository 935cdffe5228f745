/**
 * Framing: a 4-byte big-endian length, then that many bytes. The decoder is incremental and
 * validates the announced length before buffering the body, so a header announcing 4 GiB costs
 * nothing; it keeps the received chunks in a list and concatenates only once a frame is complete.
 * The first frames of a stream (the handshake's) can be held to a tighter bound than the rest.
 */
import { SecureChatError } from '../errors.js';
import { DEFAULT_MAX_FRAME } from './types.js';

export const FRAME_HEADER_SIZE = 4;

export function encodeFrameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  header.writeUInt32BE(length, 0);
  return header;
}

/** Header + payload in one buffer (one socket write). */
export function encodeFrame(payload: Buffer): Buffer {
  return Buffer.concat([encodeFrameHeader(payload.length), payload]);
}

/** Throws the coded error for a length that must never be buffered. */
export function checkFrameLength(length: number, maxFrameSize: number): void {
  if (length === 0) throw new SecureChatError('malformed', 'Zero-length frame.', { reason: 'empty_frame' });
  if (length > maxFrameSize) {
    throw new SecureChatError('frame_too_large', undefined, { details: { length, maxFrameSize } });
  }
}

/** The bound on the first `frames` frames of a stream (the handshake's, before any key is proven). */
export interface EarlyFrameLimit {
  frames: number;
  maxFrameSize: number;
}

/** Throws the coded error for a handshake frame length that must never be buffered. */
export function checkHandshakeFrameLength(length: number, maxFrameSize: number): void {
  if (length === 0) throw new SecureChatError('malformed', 'Zero-length frame.', { reason: 'empty_frame' });
  if (length > maxFrameSize) {
    throw new SecureChatError('handshake_frame_too_large', undefined, { details: { length, maxFrameSize } });
  }
}

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Body length of the frame being received, once its header is complete. */
  private expected = -1;
  /** Frame headers read so far: decides whether the early (handshake) bound still applies. */
  private headers = 0;
  private failed: SecureChatError | undefined;

  constructor(
    readonly maxFrameSize: number = DEFAULT_MAX_FRAME,
    private readonly early?: EarlyFrameLimit,
  ) {}

  /** Bytes received but not yet returned as frames (a non-zero value at EOF means truncation). */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Set once the stream is out of sync; every later push throws it. */
  get failure(): SecureChatError | undefined {
    return this.failed;
  }

  /**
   * Feeds bytes; returns the frame payloads completed by them (possibly none). A bad length throws
   * at once if no frame preceded it in this chunk; otherwise the frames before it are returned
   * first (they are in order and may be valid) and the error is left in `failure`, so callers
   * check `failure` after handling the returned frames.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.failed) throw this.failed;
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    try {
      while (true) {
        if (this.expected < 0) {
          if (this.buffered < FRAME_HEADER_SIZE) break;
          const length = this.take(FRAME_HEADER_SIZE).readUInt32BE(0);
          if (this.early && this.headers < this.early.frames) checkHandshakeFrameLength(length, this.early.maxFrameSize);
          else checkFrameLength(length, this.maxFrameSize);
          this.headers++;
          this.expected = length;
        }
        if (this.buffered < this.expected) break;
        frames.push(this.take(this.expected));
        this.expected = -1;
      }
    } catch (err) {
      this.failed = err as SecureChatError;
      this.chunks = [];
      this.buffered = 0;
      if (frames.length === 0) throw err;
    }
    return frames;
  }

  /** Removes exactly n bytes from the front; copies only when they span several chunks. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const head = this.chunks[0];
        const used = Math.min(head.length, n - filled);
        head.copy(out, filled, 0, used);
        filled += used;
        if (used === head.length) this.chunks.shift();
        else this.chunks[0] = head.subarray(used);
      }
    }
    this.buffered -= n;
    return out;
  }
}
