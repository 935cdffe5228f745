/**
 * AEAD call overhead per record (issue 17): what one AES-256-GCM record costs in Node's API, and
 * the alternatives available without a new dependency. In-process, single thread; µs per call,
 * median of `--rounds` rounds of `--count` calls each.
 *
 *   npx tsx scripts/bench/aead.ts [--count 200000] [--rounds 5] [--sizes 200,1024] [--json]
 *
 * Variants:
 *   record.seal / record.open   the record layer (RecordSealer / RecordOpener) on each AEAD
 *                               implementation of src/protocol/aead.ts: node (createCipheriv per
 *                               record) and native (native/aead.c, one EVP context per key)
 *   cipheriv(Buffer key)        createCipheriv + setAAD + update + final + getAuthTag, raw key Buffer
 *   cipheriv(KeyObject)         the same with a secret KeyObject (the key is parsed once, not per call)
 *   chacha20-poly1305           the same call sequence with Node's ChaCha20-Poly1305 (for comparison)
 *   webcrypto                   crypto.subtle.encrypt (async; one promise per record)
 *   sodium-native               crypto_aead_aes256gcm / chacha20poly1305_ietf, if installed
 */
import { createCipheriv, createSecretKey, randomBytes, webcrypto, type CipherGCM } from 'node:crypto';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { aeadImplementation, nativeAeadAvailable, selectAeadImplementation, type AeadImplementation } from '../../src/protocol/aead.js';
import { RecordOpener, RecordSealer, ContentType } from '../../src/protocol/record.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '5' },
    sizes: { type: 'string', default: '200,1024' },
    json: { type: 'boolean', default: false },
  },
});
const COUNT = Number(args.count);
const ROUNDS = Number(args.rounds);
const SIZES = String(args.sizes).split(',').map(Number);

const key = randomBytes(32);
const iv = randomBytes(12);
const aad = Buffer.from([0, 0, 0, 232]);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeSync(fn: () => void): number {
  const rounds: number[] = [];
  for (let i = 0; i < Math.min(COUNT, 5000); i++) fn();
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < COUNT; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - t0) / 1000 / COUNT);
  }
  return median(rounds);
}

async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const n = Math.max(1000, Math.floor(COUNT / 10));
  const rounds: number[] = [];
  for (let i = 0; i < 1000; i++) await fn();
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    // 64 in flight, as a send queue would have them.
    for (let i = 0; i < n; i += 64) await Promise.all(Array.from({ length: 64 }, fn));
    rounds.push(Number(process.hrtime.bigint() - t0) / 1000 / n);
  }
  return median(rounds);
}

function nonceFor(seq: number, out: Buffer): Buffer {
  iv.copy(out);
  out.writeUInt32BE((out.readUInt32BE(8) ^ seq) >>> 0, 8);
  return out;
}

function gcmSequence(k: Buffer | ReturnType<typeof createSecretKey>, algo: 'aes-256-gcm' | 'chacha20-poly1305', plain: Buffer): () => void {
  const nonce = Buffer.alloc(12);
  let seq = 0;
  return () => {
    const c = createCipheriv(algo as 'aes-256-gcm', k, nonceFor(seq++, nonce), { authTagLength: 16 }) as CipherGCM;
    c.setAAD(aad);
    c.update(plain);
    c.final();
    c.getAuthTag();
  };
}

interface Result {
  variant: string;
  bytes: number;
  usPerCall: number;
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const keyObject = createSecretKey(key);
  const wcKey = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
  const require = createRequire(import.meta.url);
  let sodium: Record<string, (...a: unknown[]) => unknown> | null = null;
  try {
    sodium = require('sodium-native') as Record<string, (...a: unknown[]) => unknown>;
  } catch {
    sodium = null;
  }
  for (const bytes of SIZES) {
    const plain = randomBytes(bytes);
    const initial = aeadImplementation();
    const impls: AeadImplementation[] = nativeAeadAvailable() ? ['node', 'native'] : ['node'];
    for (const impl of impls) {
      selectAeadImplementation(impl);
      const sealer = new RecordSealer({ key, iv });
      results.push({ variant: `record.seal [${impl}]`, bytes, usPerCall: timeSync(() => sealer.seal(ContentType.application, plain)) });
      const opener = new RecordOpener({ key, iv });
      const s3 = new RecordSealer({ key, iv });
      // Opening must follow the sealer's sequence: frames are sealed in blocks, outside the timing.
      const frames = Array.from({ length: Math.min(COUNT, 5000) + ROUNDS * COUNT }, () => s3.seal(ContentType.application, plain).subarray(4));
      let idx = 0;
      results.push({ variant: `record.open [${impl}]`, bytes, usPerCall: timeSync(() => opener.open(frames[idx++])) });
      const opener2 = new RecordOpener({ key, iv });
      let idx2 = 0;
      results.push({ variant: `record.open in place [${impl}]`, bytes, usPerCall: timeSync(() => opener2.open(frames[idx2++], true)) });
    }
    selectAeadImplementation(initial);
    results.push({ variant: 'cipheriv(Buffer key)', bytes, usPerCall: timeSync(gcmSequence(key, 'aes-256-gcm', plain)) });
    results.push({ variant: 'cipheriv(KeyObject)', bytes, usPerCall: timeSync(gcmSequence(keyObject as never, 'aes-256-gcm', plain)) });
    results.push({ variant: 'chacha20-poly1305 cipheriv', bytes, usPerCall: timeSync(gcmSequence(key, 'chacha20-poly1305', plain)) });
    let wseq = 0;
    results.push({
      variant: 'webcrypto subtle.encrypt',
      bytes,
      usPerCall: await timeAsync(() => webcrypto.subtle.encrypt({ name: 'AES-GCM', iv: nonceFor(wseq++, Buffer.alloc(12)), additionalData: aad, tagLength: 128 }, wcKey, plain)),
    });
    if (sodium) {
      const out = Buffer.alloc(bytes + 16);
      const nonce = Buffer.alloc(12);
      let sseq = 0;
      if (typeof sodium['crypto_aead_aes256gcm_is_available'] === 'function' && sodium['crypto_aead_aes256gcm_is_available']()) {
        results.push({
          variant: 'sodium crypto_aead_aes256gcm',
          bytes,
          usPerCall: timeSync(() => sodium['crypto_aead_aes256gcm_encrypt'](out, plain, aad, null, nonceFor(sseq++, nonce), key)),
        });
      }
      results.push({
        variant: 'sodium chacha20poly1305_ietf',
        bytes,
        usPerCall: timeSync(() => sodium['crypto_aead_chacha20poly1305_ietf_encrypt'](out, plain, aad, null, nonceFor(sseq++, nonce), key)),
      });
    }
  }
  if (args.json) {
    console.log(JSON.stringify({ node: process.version, openssl: process.versions.openssl, count: COUNT, rounds: ROUNDS, sodiumNative: sodium !== null, results }, null, 2));
    return;
  }
  console.log(`node ${process.version}, OpenSSL ${process.versions.openssl}; ${COUNT} calls × ${ROUNDS} rounds, median; sodium-native ${sodium ? 'installed' : 'not installed'}`);
  for (const r of results) console.log(`${r.variant.padEnd(32)} ${String(r.bytes).padStart(5)} B  ${r.usPerCall.toFixed(2).padStart(6)} µs`);
}

void main();
