/**
 * Records over a crypto provider whose AEAD may be asynchronous (WebCrypto). Same framing, nonce,
 * AAD and content types as record.ts (all from record-common.ts); the sequence number is taken
 * synchronously when seal/open is called, so records are numbered in call order even if their
 * encryption finishes out of order — callers still write frames in the order they called seal.
 */
import { SecureChatError } from '../errors.js';
import { concatBytes } from './bytes.js';
import type { AeadKey, CryptoProvider } from './crypto/provider.js';
import { IV_SIZE, KEY_SIZE, type TrafficKeyBytes } from './key-schedule.js';
import {
  MAX_RECORDS_PER_KEY,
  TAG_SIZE,
  checkPayloadLength,
  checkSequence,
  plaintextContentType,
  recordAad,
  xorSequence,
  type ContentTypeValue,
} from './record-common.js';

export interface OpenedRecordBytes {
  contentType: ContentTypeValue;
  body: Uint8Array;
}

abstract class AsyncRecordState {
  protected seq = 0;
  private readonly iv: Uint8Array;
  private readonly keyPromise: Promise<AeadKey>;

  constructor(
    protected readonly provider: CryptoProvider,
    keys: TrafficKeyBytes,
    private readonly maxRecords = MAX_RECORDS_PER_KEY,
  ) {
    if (keys.key.length !== KEY_SIZE || keys.iv.length !== IV_SIZE) throw new SecureChatError('internal', 'Bad traffic key size.');
    this.iv = keys.iv.slice();
    this.keyPromise = Promise.resolve(provider.aesGcmKey(keys.key));
  }

  get sequence(): number {
    return this.seq;
  }

  erase(): void {
    this.iv.fill(0);
  }

  protected key(): Promise<AeadKey> {
    return this.keyPromise;
  }

  protected nextNonce(): Uint8Array {
    checkSequence(this.seq, this.maxRecords);
    const nonce = this.iv.slice();
    xorSequence(nonce, this.seq++);
    return nonce;
  }
}

export class AsyncRecordSealer extends AsyncRecordState {
  /** The complete frame (header ‖ ciphertext ‖ tag) of one record. */
  async seal(contentType: ContentTypeValue, body: Uint8Array): Promise<Uint8Array> {
    const nonce = this.nextNonce();
    const aad = recordAad(1 + body.length + TAG_SIZE);
    const sealed = await this.provider.aesGcmSeal(await this.key(), nonce, aad, concatBytes(Uint8Array.of(contentType), body));
    return concatBytes(aad, sealed);
  }
}

export class AsyncRecordOpener extends AsyncRecordState {
  /** Opens one frame payload (the header is rebuilt from its length for the AAD). */
  async open(payload: Uint8Array): Promise<OpenedRecordBytes> {
    checkPayloadLength(payload.length);
    const nonce = this.nextNonce();
    let plain: Uint8Array;
    try {
      plain = await this.provider.aesGcmOpen(await this.key(), nonce, recordAad(payload.length), payload);
    } catch (cause) {
      throw new SecureChatError('bad_record', undefined, { reason: 'authentication_failed', cause });
    }
    return { contentType: plaintextContentType(plain), body: plain.subarray(1) };
  }
}
