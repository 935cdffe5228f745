/**
 * The `caught_up` push: after a login, the server says that the replay of everything the user had
 * not acknowledged is complete. A client that only wants to read what is waiting (script mode
 * without --listen) stops once it has handled the pushes before this one. Documented in
 * docs/MESSAGES.md ("Pushes").
 */
import type { AppMessage } from './types.js';

export interface CaughtUpPush {
  type: 'caught_up';
  /** How many `message` pushes the login replay sent before this one. */
  pending: number;
}

export function caughtUpPush(pending: number): CaughtUpPush & AppMessage {
  return { type: 'caught_up', pending };
}

/** Runtime check for the client: a `caught_up` push with a non-negative integer `pending`. */
export function isCaughtUpPush(msg: AppMessage): msg is CaughtUpPush & AppMessage {
  return msg.type === 'caught_up' && Number.isSafeInteger(msg.pending) && (msg.pending as number) >= 0;
}
