/**
 * What every record implementation shares (docs/PROTOCOL.md, "Records"): content types, the
 * nonce construction, the AAD (the 4-byte frame header), the sequence limit and the plaintext
 * layout (1 content-type byte ‖ body). Pure Uint8Array code: the Node records (record.ts, sync)
 * and the provider records (record-async.ts, the browser's) both build on it.
 */
import { SecureChatError } from '../errors.js';

export const TAG_SIZE = 16;
/** Hard stop well before a 64-bit counter could wrap (and far below GCM's per-key safety limits). */
export const MAX_RECORDS_PER_KEY = 2 ** 48;

export const ContentType = {
  handshake: 0x01,
  application: 0x02,
  applicationWithData: 0x03,
  closeNotify: 0x04,
  alert: 0x05,
} as const;
export type ContentTypeValue = (typeof ContentType)[keyof typeof ContentType];
const KNOWN_TYPES = new Set<number>(Object.values(ContentType));

/** XORs the 64-bit big-endian sequence number into the low 8 bytes of a 12-byte nonce, in place. */
export function xorSequence(nonce: Uint8Array, seq: number): void {
  // seq < 2^53, so its two 32-bit halves are exact without a BigInt (this runs once per record).
  const high = Math.floor(seq / 2 ** 32);
  const low = seq >>> 0;
  nonce[4] ^= high >>> 24;
  nonce[5] ^= (high >>> 16) & 0xff;
  nonce[6] ^= (high >>> 8) & 0xff;
  nonce[7] ^= high & 0xff;
  nonce[8] ^= low >>> 24;
  nonce[9] ^= (low >>> 16) & 0xff;
  nonce[10] ^= (low >>> 8) & 0xff;
  nonce[11] ^= low & 0xff;
}

/** The sequence check before each record; throws once the key is used up. */
export function checkSequence(seq: number, maxRecords: number): void {
  if (seq >= maxRecords) {
    throw new SecureChatError('bad_record', 'Record sequence limit reached; reconnect.', { reason: 'sequence_exhausted' });
  }
}

/** The frame header of a record payload of this length: the record's AAD. */
export function recordAad(payloadLength: number): Uint8Array {
  return Uint8Array.of(payloadLength >>> 24, (payloadLength >>> 16) & 0xff, (payloadLength >>> 8) & 0xff, payloadLength & 0xff);
}

/** Checks a payload is long enough to be a record at all (before any crypto). */
export function checkPayloadLength(length: number): void {
  if (length < 1 + TAG_SIZE) throw new SecureChatError('bad_record', undefined, { reason: 'too_short' });
}

/** The content type of a decrypted plaintext; an unknown one is a bad record. */
export function plaintextContentType(plain: Uint8Array): ContentTypeValue {
  const contentType = plain[0];
  if (!KNOWN_TYPES.has(contentType)) throw new SecureChatError('bad_record', undefined, { reason: 'unknown_content_type' });
  return contentType as ContentTypeValue;
}
