/** The request floods a hostile client tries (tests and `npm run fuzz -- --mode hostile`): one cheap shape each. */
import type { AppMessage } from '../../src/protocol/types.js';

export const FLOOD_KINDS = ['ping', 'ack', 'file_chunk', 'history', 'who', 'unknown', 'malformed', 'file_get', 'register', 'login'] as const;
export type FloodKind = (typeof FLOOD_KINDS)[number];

const CHUNK = Buffer.alloc(16 * 1024, 7);

export function floodMessage(kind: FloodKind, peer: string, password: string): { msg: AppMessage; data?: Buffer } {
  switch (kind) {
    case 'ping':
      return { msg: { type: 'ping' } };
    case 'ack':
      return { msg: { type: 'ack', conversation_id: 1, upto: 1 } };
    case 'file_chunk':
      return { msg: { type: 'file_chunk', transfer_id: 'no-such-transfer', offset: 0 }, data: CHUNK };
    case 'history':
      return { msg: { type: 'history', with: peer, limit: 200 } };
    case 'who':
      return { msg: { type: 'who' } };
    case 'unknown':
      return { msg: { type: 'launch_missiles' } };
    case 'malformed':
      return { msg: { type: 'who', extra: 'x'.repeat(64) } };
    case 'file_get':
      return { msg: { type: 'file_get', message_id: 1 } };
    case 'register':
      return { msg: { type: 'register', password } };
    case 'login':
      return { msg: { type: 'login', password: `${password}-wrong` } };
  }
}

