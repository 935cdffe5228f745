/**
 * Record layer: AES-256-GCM per direction. nonce = IV XOR (64-bit big-endian sequence number in
 * the low 8 bytes); AAD = the 4-byte frame header; frame payload = ciphertext ‖ 16-byte tag.
 * Plaintext = 1 content-type byte ‖ body. Sequence numbers are implicit (never sent), so a
 * replayed, reordered, dropped or duplicated record fails authentication.
 *
 * This is the Node record layer: synchronous (aead.ts: a native OpenSSL context per key, or
 * node:crypto), because the server seals and opens on every message. Framing, nonce, AAD and
 * content types come from record-common.ts, which the provider-based (browser) records in
 * record-async.ts share.
 */
import { SecureChatError } from '../errors.js';
import { createRecordAead, type RecordAead } from './aead.js';
import { FRAME_HEADER_SIZE, checkFrameLength } from './frame.js';
import { IV_SIZE, KEY_SIZE, erase, type TrafficKeys } from './keys.js';
import {
  MAX_RECORDS_PER_KEY,
  TAG_SIZE,
  checkPayloadLength,
  checkSequence,
  plaintextContentType,
  xorSequence,
  type ContentTypeValue,
} from './record-common.js';

export { ContentType, MAX_RECORDS_PER_KEY, TAG_SIZE, type ContentTypeValue } from './record-common.js';

export interface OpenedRecord {
  contentType: ContentTypeValue;
  body: Buffer;
}

/** nonce = iv XOR (0^32 ‖ seq as uint64 BE). */
export function recordNonce(iv: Buffer, seq: number): Buffer {
  return recordNonceInto(iv, seq, Buffer.allocUnsafe(IV_SIZE));
}

/** recordNonce written into `nonce` (a per-direction buffer reused for every record). */
export function recordNonceInto(iv: Buffer, seq: number, nonce: Buffer): Buffer {
  iv.copy(nonce, 0, 0, IV_SIZE);
  xorSequence(nonce, seq);
  return nonce;
}

abstract class RecordState {
  protected seq = 0;
  protected readonly key: Buffer;
  protected readonly iv: Buffer;
  /** One AEAD context per key (aead.ts); nonce and AAD buffers reused for every record. */
  protected readonly aead: RecordAead;
  private readonly nonce: Buffer;
  /** The opener's AAD buffer (the 4-byte frame header), in the same allocation. */
  protected readonly aadBuffer: Buffer;

  constructor(keys: TrafficKeys, encrypt: boolean, protected readonly maxRecords = MAX_RECORDS_PER_KEY) {
    if (keys.key.length !== KEY_SIZE || keys.iv.length !== IV_SIZE) throw new SecureChatError('internal', 'Bad traffic key size.');
    // Own copies, so erasing the schedule's buffers and ours are independent: key ‖ iv ‖ nonce ‖
    // AAD in one allocation of their own (Buffer.alloc), not slices of Node's shared Buffer pool,
    // which a session-long slice would pin with 8 KiB of dead handshake temporaries.
    const own = Buffer.alloc(KEY_SIZE + 2 * IV_SIZE + FRAME_HEADER_SIZE);
    this.key = own.subarray(0, KEY_SIZE);
    this.iv = own.subarray(KEY_SIZE, KEY_SIZE + IV_SIZE);
    this.nonce = own.subarray(KEY_SIZE + IV_SIZE, KEY_SIZE + 2 * IV_SIZE);
    this.aadBuffer = own.subarray(KEY_SIZE + 2 * IV_SIZE);
    keys.key.copy(this.key);
    keys.iv.copy(this.iv);
    this.aead = createRecordAead(this.key, encrypt);
  }

  get sequence(): number {
    return this.seq;
  }

  erase(): void {
    this.aead.erase();
    erase(this.key, this.iv, this.nonce);
  }

  protected nextNonce(): Buffer {
    checkSequence(this.seq, this.maxRecords);
    return recordNonceInto(this.iv, this.seq++, this.nonce);
  }
}

export class RecordSealer extends RecordState {
  constructor(keys: TrafficKeys, maxRecords = MAX_RECORDS_PER_KEY) {
    super(keys, true, maxRecords);
  }

  /**
   * Returns the complete frame (header ‖ ciphertext ‖ tag) for one record. The body may be given
   * as pieces (e.g. JSON header and file data), which are encrypted in order without joining them.
   */
  seal(contentType: ContentTypeValue, body: Buffer | readonly Buffer[]): Buffer {
    const parts = Buffer.isBuffer(body) ? [body] : body;
    let bodyLength = 0;
    for (const part of parts) bodyLength += part.length;
    const nonce = this.nextNonce();
    const length = 1 + bodyLength + TAG_SIZE;
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + length);
    frame.writeUInt32BE(length, 0);
    // The header is the AAD; the ciphertext and tag are written right behind it, no copies.
    this.aead.seal(nonce, frame.subarray(0, FRAME_HEADER_SIZE), frame, FRAME_HEADER_SIZE, contentType, parts);
    return frame;
  }

  /**
   * Seals one record per body, all of `contentType`, as whole frames back to back into `out` at
   * `offset` (the bytes `frameLength` gives for each); returns bytes written. One AEAD call for
   * the lot: the channel writes all the small records of one event-loop turn this way.
   */
  sealFrames(contentType: ContentTypeValue, bodies: readonly Buffer[], out: Buffer, offset: number): number {
    if (bodies.length === 0) return 0;
    checkSequence(this.seq + bodies.length - 1, this.maxRecords);
    const written = this.aead.sealFrames(this.iv, this.seq, out, offset, contentType, bodies);
    this.seq += bodies.length;
    return written;
  }

  /** The frame size a record with this body would have; lets callers check limits before sealing. */
  static frameLength(bodyLength: number): number {
    return FRAME_HEADER_SIZE + 1 + bodyLength + TAG_SIZE;
  }
}

export class RecordOpener extends RecordState {
  constructor(keys: TrafficKeys, maxRecords = MAX_RECORDS_PER_KEY) {
    super(keys, false, maxRecords);
  }

  /**
   * Opens one frame payload (the header is rebuilt from its length for the AAD). `inPlace`: the
   * caller owns the payload and will not read it again, so the plaintext may overwrite it.
   */
  open(payload: Buffer, inPlace = false): OpenedRecord {
    checkPayloadLength(payload.length);
    const nonce = this.nextNonce();
    this.aadBuffer.writeUInt32BE(payload.length, 0);
    const plain = this.aead.open(nonce, this.aadBuffer, payload, inPlace);
    if (plain === false) throw new SecureChatError('bad_record', undefined, { reason: 'authentication_failed' });
    return { contentType: plaintextContentType(plain), body: plain.subarray(1) };
  }
}

/** Checks a record body fits the peer's frame limit before it is sealed. */
export function checkRecordFits(bodyLength: number, maxFrameSize: number): void {
  checkFrameLength(1 + bodyLength + TAG_SIZE, maxFrameSize);
}
