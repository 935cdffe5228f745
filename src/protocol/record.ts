/**
 * Record layer: AES-256-GCM per direction. nonce = IV XOR (64-bit big-endian sequence number in
 * the low 8 bytes); AAD = the 4-byte frame header; frame payload = ciphertext ‖ 16-byte tag.
 * Plaintext = 1 content-type byte ‖ body. Sequence numbers are implicit (never sent), so a
 * replayed, reordered, dropped or duplicated record fails authentication.
 *
 * This is the Node record layer: synchronous node:crypto, because the server seals and opens on
 * every message. Framing, nonce, AAD and content types come from record-common.ts, which the
 * provider-based (browser) records in record-async.ts share.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import { FRAME_HEADER_SIZE, checkFrameLength, encodeFrameHeader } from './frame.js';
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
  const nonce = Buffer.from(iv);
  xorSequence(nonce, seq);
  return nonce;
}

abstract class RecordState {
  protected seq = 0;
  protected readonly key: Buffer;
  protected readonly iv: Buffer;

  constructor(keys: TrafficKeys, protected readonly maxRecords = MAX_RECORDS_PER_KEY) {
    if (keys.key.length !== KEY_SIZE || keys.iv.length !== IV_SIZE) throw new SecureChatError('internal', 'Bad traffic key size.');
    // Own copies, so erasing the schedule's buffers and ours are independent.
    this.key = Buffer.from(keys.key);
    this.iv = Buffer.from(keys.iv);
  }

  get sequence(): number {
    return this.seq;
  }

  erase(): void {
    erase(this.key, this.iv);
  }

  protected nextNonce(): Buffer {
    checkSequence(this.seq, this.maxRecords);
    return recordNonce(this.iv, this.seq++);
  }
}

export class RecordSealer extends RecordState {
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
    const header = encodeFrameHeader(length);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(header);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + length);
    header.copy(frame, 0);
    let offset = FRAME_HEADER_SIZE;
    offset += cipher.update(Buffer.of(contentType)).copy(frame, offset);
    for (const part of parts) offset += cipher.update(part).copy(frame, offset);
    offset += cipher.final().copy(frame, offset);
    cipher.getAuthTag().copy(frame, offset);
    return frame;
  }

  /** The frame size a record with this body would have; lets callers check limits before sealing. */
  static frameLength(bodyLength: number): number {
    return FRAME_HEADER_SIZE + 1 + bodyLength + TAG_SIZE;
  }
}

export class RecordOpener extends RecordState {
  /** Opens one frame payload (the header is rebuilt from its length for the AAD). */
  open(payload: Buffer): OpenedRecord {
    checkPayloadLength(payload.length);
    const nonce = this.nextNonce();
    const header = encodeFrameHeader(payload.length);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, nonce);
      decipher.setAAD(header);
      decipher.setAuthTag(payload.subarray(payload.length - TAG_SIZE));
      plain = decipher.update(payload.subarray(0, payload.length - TAG_SIZE));
      // GCM is a stream mode: final() only checks the tag and returns no bytes, so nothing to concat.
      decipher.final();
    } catch (cause) {
      throw new SecureChatError('bad_record', undefined, { reason: 'authentication_failed', cause });
    }
    return { contentType: plaintextContentType(plain), body: plain.subarray(1) };
  }
}

/** Checks a record body fits the peer's frame limit before it is sealed. */
export function checkRecordFits(bodyLength: number, maxFrameSize: number): void {
  checkFrameLength(1 + bodyLength + TAG_SIZE, maxFrameSize);
}
