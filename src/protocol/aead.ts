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
import { xorSequence } from './record-common.js';

export const AEAD_TAG_SIZE = 16;

/** Seals or opens records under one key; `nonce` and `aad` are read during the call only. */
export interface RecordAead {
  /** Encrypts contentType ‖ parts into `out` at `offset`, followed by the tag; returns bytes written. */
  seal(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, parts: readonly Buffer[]): number;
  /**
   * Whole frames back to back into `out` at `offset`, one per body: 4-byte BE length ‖ ciphertext ‖
   * tag, the header being the record's AAD and the nonce iv XOR seq, seq + 1, … (record-common.ts).
   * Returns bytes written. The caller has checked the sequence limit for all of them.
   */
  sealFrames(iv: Buffer, seq: number, out: Buffer, offset: number, contentType: number, bodies: readonly Buffer[]): number;
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
  /** Absent in a binding built before it existed: then frames are sealed one call each. */
  sealFrames?(ctx: object, iv: Buffer, seq: number, out: Buffer, offset: number, contentType: number, ...bodies: Buffer[]): number;
  seal(ctx: object, nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, ...parts: Buffer[]): number;
  open(ctx: object, nonce: Buffer, aad: Buffer, payload: Buffer, out: Buffer): boolean;
  free(ctx: object): void;
}

/** The binding takes at most this many parts per record (native/aead.c MAX_PARTS). */
const NATIVE_MAX_PARTS = 8;
/** …and at most this many bodies per sealFrames call (native/aead.c MAX_FRAMES). */
const NATIVE_MAX_FRAMES = 64;

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

/**
 * A native context holds ≈ 1.9 KB outside the JS heap (EVP context, AES key schedule, GHASH table),
 * two per session: on 10,000 idle sessions that would be ≈ 38 MB. So a direction uses one only
 * while it is busy: its first DEFAULT_NATIVE_WARMUP_RECORDS (8) records in a window of NATIVE_IDLE_RELEASE_MS go
 * through node:crypto (createCipheriv, nothing native allocated), later ones through a kept native
 * context, and a kept context not used for one whole sweep interval is freed. The handshake's
 * records, the welcome and keepalives never allocate one. (Making and freeing a native context per
 * record instead measured +1 KB RSS per idle session: allocator fragmentation.) One unref'd timer
 * for all kept contexts; it stops when none is left.
 */
export const NATIVE_IDLE_RELEASE_MS = 5_000;
export const DEFAULT_NATIVE_WARMUP_RECORDS = 8;
let warmupRecords = DEFAULT_NATIVE_WARMUP_RECORDS;

/** For tests: how many records per window go through node:crypto before a native context is kept (0: at once). */
export function setNativeWarmupRecords(n: number): void {
  warmupRecords = n;
}
const liveContexts = new Set<NativeAead>();
let sweeper: NodeJS.Timeout | null = null;

/** One sweep (the timer's work; exported so tests need not wait for it). */
export function sweepIdleContexts(): void {
  for (const aead of liveContexts) aead.releaseIfIdle();
  if (liveContexts.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/** Native contexts kept now (for tests and the idle-memory check). */
export function liveNativeContexts(): number {
  return liveContexts.size;
}

class NativeAead implements RecordAead {
  /** The kept context, once the direction is busy. */
  private ctx: object | null = null;
  private used = false;
  private erased = false;
  /** Records in the current window while no context is kept. */
  private recent = 0;
  private windowStart = 0;

  /** `key` stays the caller's (RecordState's own copy, erased by it): contexts are made from it. */
  constructor(
    private readonly binding: NativeBinding,
    private readonly key: Buffer,
    private readonly encrypt: boolean,
  ) {}

  /** The kept context for `records` records, or null: these go through node:crypto. */
  private acquire(records = 1): object | null {
    if (this.erased) throw new Error('AEAD key erased');
    if (this.ctx) {
      this.used = true;
      return this.ctx;
    }
    const now = Date.now();
    if (now - this.windowStart >= NATIVE_IDLE_RELEASE_MS) {
      this.windowStart = now;
      this.recent = 0;
    }
    this.recent += records;
    if (this.recent <= warmupRecords) return null;
    this.ctx = this.binding.create(this.key, this.encrypt);
    this.used = true;
    liveContexts.add(this);
    if (!sweeper) {
      sweeper = setInterval(sweepIdleContexts, NATIVE_IDLE_RELEASE_MS);
      sweeper.unref();
    }
    return this.ctx;
  }

  seal(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, parts: readonly Buffer[]): number {
    const ctx = this.acquire();
    if (!ctx) return nodeSeal(this.key, nonce, aad, out, offset, contentType, parts);
    if (parts.length === 1) return this.binding.seal(ctx, nonce, aad, out, offset, contentType, parts[0]);
    if (parts.length <= NATIVE_MAX_PARTS) return this.binding.seal(ctx, nonce, aad, out, offset, contentType, ...parts);
    return this.binding.seal(ctx, nonce, aad, out, offset, contentType, Buffer.concat(parts));
  }

  sealFrames(iv: Buffer, seq: number, out: Buffer, offset: number, contentType: number, bodies: readonly Buffer[]): number {
    const ctx = this.acquire(bodies.length);
    const sealFrames = this.binding.sealFrames;
    if (!ctx || !sealFrames) return sealFramesEach(this, iv, seq, out, offset, contentType, bodies);
    if (bodies.length <= NATIVE_MAX_FRAMES) return sealFrames(ctx, iv, seq, out, offset, contentType, ...bodies);
    let written = 0;
    for (let i = 0; i < bodies.length; i += NATIVE_MAX_FRAMES) {
      const some = bodies.slice(i, i + NATIVE_MAX_FRAMES);
      written += sealFrames(ctx, iv, seq + i, out, offset + written, contentType, ...some);
    }
    return written;
  }

  /** One record through the kept context or node:crypto, as `seal` does (sealFramesEach's step). */
  sealOne(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, body: Buffer): number {
    const ctx = this.ctx;
    if (!ctx) return nodeSeal(this.key, nonce, aad, out, offset, contentType, [body]);
    return this.binding.seal(ctx, nonce, aad, out, offset, contentType, body);
  }

  open(nonce: Buffer, aad: Buffer, payload: Buffer, inPlace = false): Buffer | false {
    const ctx = this.acquire();
    if (!ctx) return nodeOpen(this.key, nonce, aad, payload);
    // GCM decrypts in place (OpenSSL allows out == in); the tag is copied out before.
    const out = inPlace ? payload.subarray(0, payload.length - AEAD_TAG_SIZE) : Buffer.allocUnsafe(payload.length - AEAD_TAG_SIZE);
    return this.binding.open(ctx, nonce, aad, payload, out) ? out : false;
  }

  /** Called by the sweep: frees the kept context if it was not used since the previous sweep. */
  releaseIfIdle(): void {
    if (this.used) {
      this.used = false;
      return;
    }
    this.release();
  }

  private release(): void {
    if (this.ctx) this.binding.free(this.ctx);
    this.ctx = null;
    liveContexts.delete(this);
  }

  erase(): void {
    this.erased = true;
    this.release();
    this.key.fill(0);
  }
}

const typeByte = Buffer.alloc(1);
const framesNonce = Buffer.alloc(12);

/** sealFrames one record at a time (node:crypto, or a binding without sealFrames). */
function sealFramesEach(
  aead: { sealOne(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, body: Buffer): number },
  iv: Buffer,
  seq: number,
  out: Buffer,
  offset: number,
  contentType: number,
  bodies: readonly Buffer[],
): number {
  const start = offset;
  try {
    for (let i = 0; i < bodies.length; i++) {
      const length = 1 + bodies[i].length + AEAD_TAG_SIZE;
      out.writeUInt32BE(length, offset);
      iv.copy(framesNonce, 0, 0, 12);
      xorSequence(framesNonce, seq + i);
      aead.sealOne(framesNonce, out.subarray(offset, offset + 4), out, offset + 4, contentType, bodies[i]);
      offset += 4 + length;
    }
  } finally {
    framesNonce.fill(0);
  }
  return offset - start;
}

function nodeSeal(key: Buffer, nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, parts: readonly Buffer[]): number {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const start = offset;
  typeByte[0] = contentType;
  offset += cipher.update(typeByte).copy(out, offset);
  for (const part of parts) offset += cipher.update(part).copy(out, offset);
  offset += cipher.final().copy(out, offset);
  offset += cipher.getAuthTag().copy(out, offset);
  return offset - start;
}

function nodeOpen(key: Buffer, nonce: Buffer, aad: Buffer, payload: Buffer): Buffer | false {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
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

class NodeAead implements RecordAead {
  private erased = false;

  constructor(private readonly key: Buffer) {}

  seal(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, parts: readonly Buffer[]): number {
    if (this.erased) throw new Error('AEAD key erased');
    return nodeSeal(this.key, nonce, aad, out, offset, contentType, parts);
  }

  sealFrames(iv: Buffer, seq: number, out: Buffer, offset: number, contentType: number, bodies: readonly Buffer[]): number {
    if (this.erased) throw new Error('AEAD key erased');
    return sealFramesEach(this, iv, seq, out, offset, contentType, bodies);
  }

  sealOne(nonce: Buffer, aad: Buffer, out: Buffer, offset: number, contentType: number, body: Buffer): number {
    return nodeSeal(this.key, nonce, aad, out, offset, contentType, [body]);
  }

  open(nonce: Buffer, aad: Buffer, payload: Buffer): Buffer | false {
    if (this.erased) throw new Error('AEAD key erased');
    return nodeOpen(this.key, nonce, aad, payload);
  }

  erase(): void {
    this.erased = true;
    this.key.fill(0);
  }
}

/**
 * A record AEAD for one traffic key and direction. Both implementations keep the caller's key
 * buffer (node: to key each record; native: to rebuild a released context) and zero it on erase.
 */
export function createRecordAead(key: Buffer, encrypt: boolean): RecordAead {
  if (selected === 'native' && native) return new NativeAead(native, key, encrypt);
  return new NodeAead(key);
}
