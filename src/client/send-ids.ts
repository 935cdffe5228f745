/**
 * Idempotency keys for sends (`client_msg_id` on dm, group_send and file_complete): chosen by the
 * client, unique per sender, 1..64 characters of [A-Za-z0-9_-]. 16 random bytes in base64url (22
 * characters) make a collision between two sends of one user practically impossible.
 */
import { randomBytes } from 'node:crypto';

export const CLIENT_MSG_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function newClientMsgId(): string {
  return randomBytes(16).toString('base64url');
}
