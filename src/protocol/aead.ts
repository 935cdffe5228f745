/**
 * The AES-256-GCM call behind one record, with a reusable key (issue 17). Two implementations of
 * one contract, chosen once per process:
 *
 *   native  native/aead.c, an N-API binding over the OpenSSL that Node itself links: one EVP
 *           context per traffic key, each record only re-inits the nonce (≈ 0.5 µs for 200 B
 *           against ≈ 4–5 µs for Node's createCipheriv sequence; scripts/bench/aead.ts). Built by
 *           `npm run build:native`; absent or unloadable, the node implementation is used.
 *   node    createCipheriv / createDecipheriv per record (always available).
 *
 * Both produce identical bytes (test/unit/protocol-aead.test.ts runs the same vectors on each).
 * The cipher is not a choice: the protocol is AES-256-GCM.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const AEAD_TAG_SIZE = 16;

/** Seals or opens records under one key; `nonce` and `aad` are read during the call only. */
export interface RecordAead {
  /** Encrypts contentType ‖ parts into `out` at `offset`, followed by the tag; returns bytes written. */
  seal(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, parts: readonly Buffer[]): number;
  /**
   * Authenticates ciphertext ‖ tag and returns the plaintext; false on failure. A new buffer, unless
   * `inPlace` and the implementation can: then the plaintext overwrites the payload's ciphertext.
   */
  open(nonce: Buffer, aad: Buffer, payload: Buffer, inPlace?: boolean): Buffer | false;
  /** Erases the key (and, natively, its schedule) now. */
  erase(): void;
}

export type AeadImplementation = 'native' | 'node';

interface NativeBinding {
  create(key: Buffer, encrypt: boolean): object;
  seal(ctx: object, nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, ...parts: Buffer[]): number;
  open(ctx: object, nonce: Buffer, aad: Buffer, payload: Buffer, out: Buffer): boolean;
  free(ctx: object): void;
}

/** The binding takes at most this many parts per record (native/aead.c MAX_PARTS). */
const NATIVE_MAX_PARTS = 8;

function loadNative(): NativeBinding | null {
  // Same relative place from src/protocol/ (tsx) and dist/protocol/ (compiled).
  const path = fileURLToPath(new URL('../../native/build/securechat_aead.node', import.meta.url));
  if (!existsSync(path)) return null;
  try {
    return createRequire(import.meta.url)(path) as NativeBinding;
  } catch {
    // Built for another Node or platform: the node implementation is correct, only slower.
    return null;
  }
}

const native = loadNative();
let selected: AeadImplementation = native ? 'native' : 'node';

/** Which implementation new record states use. */
export function aeadImplementation(): AeadImplementation {
  return selected;
}

export function nativeAeadAvailable(): boolean {
  return native !== null;
}

/** For benchmarks and tests: force one implementation ('native' only if it loaded). */
export function selectAeadImplementation(which: AeadImplementation): void {
  if (which === 'native' && !native) throw new Error('The native AEAD is not built (npm run build:native).');
  selected = which;
}

class NativeAead implements RecordAead {
  private ctx: object | null;

  constructor(
    private readonly binding: NativeBinding,
    key: Buffer,
    encrypt: boolean,
  ) {
    this.ctx = binding.create(key, encrypt);
  }

  seal(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, parts: readonly Buffer[]): number {
    if (!this.ctx) throw new Error('AEAD key erased');
    if (parts.length === 1) return this.binding.seal(this.ctx, nonce, aad, out, offset, contentType, parts[0]);
    if (parts.length <= NATIVE_MAX_PARTS) return this.binding.seal(this.ctx, nonce, aad, out, offset, contentType, ...parts);
    return this.binding.seal(this.ctx, nonce, aad, out, offset, contentType, Buffer.concat(parts));
  }

  open(nonce: Buffer, aad: Buffer, payload: Buffer, inPlace = false): Buffer | false {
    if (!this.ctx) throw new Error('AEAD key erased');
    // GCM decrypts in place (OpenSSL allows out == in); the tag is copied out before.
    const out = inPlace ? payload.subarray(0, payload.length - AEAD_TAG_SIZE) : Buffer.allocUnsafe(payload.length - AEAD_TAG_SIZE);
    return this.binding.open(this.ctx, nonce, aad, payload, out) ? out : false;
  }

  erase(): void {
    if (this.ctx) this.binding.free(this.ctx);
    this.ctx = null;
  }
}

class NodeAead implements RecordAead {
  private static readonly typeByte = Buffer.alloc(1);

  private erased = false;

  constructor(private readonly key: Buffer) {}

  seal(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, parts: readonly Buffer[]): number {
    if (this.erased) throw new Error('AEAD key erased');
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(aad);
    const start = offset;
    NodeAead.typeByte[0] = contentType;
    offset += cipher.update(NodeAead.typeByte).copy(out, offset);
    for (const part of parts) offset += cipher.update(part).copy(out, offset);
    offset += cipher.final().copy(out, offset);
    offset += cipher.getAuthTag().copy(out, offset);
    return offset - start;
  }

  open(nonce: Buffer, aad: Buffer, payload: Buffer): Buffer | false {
    if (this.erased) throw new Error('AEAD key erased');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, nonce);
      decipher.setAAD(aad);
      decipher.setAuthTag(payload.subarray(payload.length - AEAD_TAG_SIZE));
      const plain = decipher.update(payload.subarray(0, payload.length - AEAD_TAG_SIZE));
      // GCM is a stream mode: final() only checks the tag and returns no bytes, so nothing to concat.
      decipher.final();
      return plain;
    } catch {
      return false;
    }
  }

  erase(): void {
    this.erased = true;
    this.key.fill(0);
  }
}

/**
 * A record AEAD for one traffic key and direction. The node implementation keeps (and erases) the
 * caller's key buffer; the native one copies it into its context at once.
 */
export function createRecordAead(key: Buffer, encrypt: boolean): RecordAead {
  if (selected === 'native' && native) return new NativeAead(native, key, encrypt);
  return new NodeAead(key);
}
