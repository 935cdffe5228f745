/**
 * Fuzz inputs, all drawn from a seeded Random so a seed names a run: random bytes, mutated
 * client_hellos (bit flips, truncations, JSON field mutations, bad lengths, deep nesting) and
 * random-but-well-formed application requests. Every generator returns bytes or objects; sending
 * them is the harness's job.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { encodeFrameHeader } from '../../src/protocol/frame.js';
import { DEFAULT_MAX_FRAME } from '../../src/protocol/types.js';
import type { Random } from '../soak/random.js';

export function flipBits(buf: Buffer, rng: Random, count = 1 + rng.int(8)): Buffer {
  const out = Buffer.from(buf);
  if (out.length === 0) return out;
  for (let i = 0; i < count; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
  return out;
}

export function deepNesting(rng: Random, depth: number): string {
  const kind = rng.int(3);
  if (kind === 0) return '['.repeat(depth) + ']'.repeat(depth);
  if (kind === 1) return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  // Unbalanced: never closes.
  return '{"x":['.repeat(depth);
}

const STRINGS = ['', ' ', 'a', 'alice', 'bob', 'fuzz', 'user0', '../../etc/passwd', '%s%n', '\u0000', '\ud800', '😀'.repeat(20), '"', '\\', 'null', 'true'];

/** A random JSON value, bounded in size and depth. */
export function randomValue(rng: Random, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 6 : 9)) {
    case 0:
      return rng.pick(STRINGS);
    case 1:
      return rng.pick([0, -1, 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 53), 1.5, 1e308, -1e-308, Number.MAX_SAFE_INTEGER]);
    case 2:
      return rng.chance(0.5);
    case 3:
      return null;
    case 4:
      return 'x'.repeat(rng.pick([63, 64, 65, 1024, 65_536, 65_537, 200_000]));
    case 5:
      return rng.int(1000);
    case 6:
      return Array.from({ length: rng.int(5) }, () => randomValue(rng, depth + 1));
    case 7: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) o[rng.pick(PARAM_NAMES)] = randomValue(rng, depth + 1);
      return o;
    }
    default:
      return cryptoRandomBytes(1 + rng.int(40)).toString(rng.chance(0.5) ? 'base64' : 'latin1');
  }
}

// --- pre-handshake ---

function validHelloObject(): Record<string, unknown> {
  return {
    type: 'client_hello',
    version: 1,
    nonce: cryptoRandomBytes(32).toString('base64'),
    timestamp: Date.now(),
    key_share: cryptoRandomBytes(32).toString('base64'),
  };
}

const HELLO_FIELDS = ['type', 'version', 'nonce', 'timestamp', 'key_share', 'client_id'];

function mutateHelloObject(rng: Random): string {
  const o = validHelloObject();
  const field = rng.pick(HELLO_FIELDS);
  switch (rng.int(10)) {
    case 0:
      delete o[field];
      break;
    case 1:
      o[`x_${rng.int(100)}`] = randomValue(rng);
      break;
    case 2:
      o[field] = randomValue(rng);
      break;
    case 3:
      o.version = rng.pick([0, 2, -1, '1', 1.5, 2 ** 53, null]);
      break;
    case 4:
      o.timestamp = rng.pick([0, -1, Date.now() - 3_600_000, Date.now() + 3_600_000, 1e308, '1700000000000']);
      break;
    case 5:
      // Not canonical, wrong length, or not base64 at all.
      o[rng.pick(['nonce', 'key_share'])] = rng.pick(['AAAA', cryptoRandomBytes(31).toString('base64'), cryptoRandomBytes(33).toString('base64'), '!!!!', 'AAA=', 'A'.repeat(44)]);
      break;
    case 6:
      // Low-order X25519 point (all zero): the shared secret would be zero.
      o.key_share = Buffer.alloc(32).toString('base64');
      break;
    case 7:
      return JSON.stringify(o).replace('"version":1', '"version":1,"version":1');
    case 8:
      o.client_id = 'c'.repeat(rng.pick([128, 129, 20_000]));
      break;
    default:
      o.type = rng.pick(['server_hello', 'client_auth', 'error', '', 'CLIENT_HELLO']);
  }
  return JSON.stringify(o);
}

/** One connection's worth of pre-handshake input (complete frames or deliberately broken ones). */
export function preHandshakeInput(rng: Random, validHello: () => Buffer): { bytes: Buffer; label: string } {
  const frame = (payload: Buffer): Buffer => Buffer.concat([encodeFrameHeader(payload.length), payload]);
  switch (rng.int(12)) {
    case 0:
      return { bytes: cryptoRandomBytes(1 + rng.int(2048)), label: 'random_bytes' };
    case 1:
      return { bytes: frame(cryptoRandomBytes(1 + rng.int(2048))), label: 'random_payload' };
    case 2:
      return { bytes: frame(flipBits(validHello(), rng)), label: 'hello_bit_flip' };
    case 3: {
      const hello = validHello();
      const cut = rng.int(hello.length);
      // Either the header still announces the full length (EOF mid-frame) or it is honest.
      return rng.chance(0.5)
        ? { bytes: Buffer.concat([encodeFrameHeader(hello.length), hello.subarray(0, cut)]), label: 'hello_truncated' }
        : { bytes: frame(hello.subarray(0, Math.max(1, cut))), label: 'hello_cut' };
    }
    case 4:
    case 5:
      return { bytes: frame(Buffer.from(mutateHelloObject(rng))), label: 'hello_field' };
    case 6: {
      const length = rng.pick([0, DEFAULT_MAX_FRAME + 1, 0xffffffff, 0x7fffffff, 16 * 1024 + 1]);
      return { bytes: Buffer.concat([encodeFrameHeader(length), validHello()]), label: 'huge_length' };
    }
    case 7:
      return { bytes: frame(Buffer.from(deepNesting(rng, rng.pick([33, 100, 5000])))), label: 'deep_nesting' };
    case 8: {
      // Invalid UTF-8 inside an otherwise valid hello.
      const hello = validHello();
      const at = 2 + rng.int(hello.length - 4);
      return { bytes: frame(Buffer.concat([hello.subarray(0, at), Buffer.from([0xc3, 0x28, 0xff]), hello.subarray(at)])), label: 'bad_utf8' };
    }
    case 9:
      // Two hellos back to back, or a hello followed by garbage where client_auth should be.
      return { bytes: Buffer.concat([frame(validHello()), rng.chance(0.5) ? frame(validHello()) : frame(cryptoRandomBytes(64))]), label: 'hello_pipelined' };
    case 10:
      return { bytes: frame(Buffer.from(JSON.stringify(randomValue(rng)) ?? 'null')), label: 'json_value' };
    default:
      return { bytes: frame(Buffer.from(JSON.stringify(validHelloObject()).padEnd(16 * 1024 + 10, ' '))), label: 'hello_too_long' };
  }
}

// --- post-handshake ---

export const COMMANDS = [
  'register', 'login', 'logout', 'change_password', 'who', 'dm', 'ack', 'group_create', 'group_list', 'group_info', 'group_add',
  'group_remove', 'group_promote', 'group_demote', 'group_leave', 'group_rename', 'group_delete', 'group_send', 'history',
  'file_offer', 'file_chunk', 'file_complete', 'file_get', 'ping', 'pong', 'response', 'error', 'welcome', '',
];

const SESSION_CHANGING = new Set(['logout', 'login', 'register', 'change_password']);

const PARAM_NAMES = [
  'to', 'text', 'password', 'username', 'conversation_id', 'upto', 'name', 'group', 'user', 'with', 'before', 'limit', 'size',
  'sha256', 'transfer_id', 'offset', 'message_id', 'file', 'old_password', 'new_password', '__proto__', 'constructor', 'id', 'type',
];

const GOOD_VALUES: Record<string, () => unknown> = {
  to: () => 'alice',
  text: () => 'hello from the fuzzer',
  group: () => 'fuzz-group',
  name: () => 'fuzz-group',
  user: () => 'alice',
  with: () => 'alice',
  conversation_id: () => 1,
  upto: () => 1,
  limit: () => 10,
  size: () => 1024,
  sha256: () => 'a'.repeat(64),
  offset: () => 0,
  message_id: () => 1,
};

/** A well-formed application request (a JSON object with a string type) with fuzzed parameters. */
export function fuzzRequest(rng: Random, nextId: () => number): { msg: Record<string, unknown>; data?: Buffer } {
  let type = rng.chance(0.9) ? rng.pick(COMMANDS) : (JSON.stringify(randomValue(rng)) ?? 'null').slice(0, 80);
  // Rarely log out (or log in again): one early logout would leave the rest of a connection at the login gate.
  if (SESSION_CHANGING.has(type) && rng.chance(0.9)) type = 'who';
  const msg: Record<string, unknown> = { type };
  const idKind = rng.int(20);
  msg.id = idKind === 0 ? undefined : idKind === 1 ? randomValue(rng) : nextId();
  if (msg.id === undefined) delete msg.id;
  for (let i = rng.int(5); i > 0; i--) {
    const name = rng.pick(PARAM_NAMES);
    if (name === 'type') continue;
    const good = Object.hasOwn(GOOD_VALUES, name) ? GOOD_VALUES[name] : undefined;
    msg[name] = good && rng.chance(0.5) ? good() : randomValue(rng);
  }
  const data = rng.chance(0.1) ? cryptoRandomBytes(rng.pick([0, 1, 1000, 65_536])) : undefined;
  return data === undefined ? { msg } : { msg, data };
}

/** The last frame of a post-handshake connection: something the record layer must refuse. */
export type Finisher =
  | 'flip_header'
  | 'flip_ciphertext'
  | 'flip_tag'
  | 'replay'
  | 'skip_sequence'
  | 'random_record'
  | 'invalid_json'
  | 'unknown_content_type'
  | 'handshake_record'
  | 'bad_data_length'
  | 'truncated'
  | 'zero_length'
  | 'too_deep'
  | 'type_not_string'
  | 'alert'
  | 'close_notify';

export const FINISHERS: Finisher[] = [
  'flip_header', 'flip_ciphertext', 'flip_tag', 'replay', 'skip_sequence', 'random_record', 'invalid_json', 'unknown_content_type',
  'handshake_record', 'bad_data_length', 'truncated', 'zero_length', 'too_deep', 'type_not_string', 'alert', 'close_notify',
];
