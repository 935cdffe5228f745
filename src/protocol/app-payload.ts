/**
 * Application record bodies: a JSON message alone (content type `application`), or a JSON header
 * plus raw bytes (content type `applicationWithData`: u32 BE json length ‖ json ‖ data), so file
 * chunks travel as binary rather than base64.
 */
import { SecureChatError } from '../errors.js';
import { parseJsonObject } from './messages.js';
import { ContentType, type ContentTypeValue } from './record.js';
import type { AppMessage } from './types.js';

const MAX_APP_JSON_DEPTH = 64;

export interface EncodedApp {
  contentType: ContentTypeValue;
  body: Buffer;
}

export function encodeAppMessage(msg: AppMessage, data?: Buffer): EncodedApp {
  if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') {
    throw new SecureChatError('bad_request', 'A message needs a string "type".');
  }
  const json = Buffer.from(JSON.stringify(msg), 'utf8');
  if (data === undefined) return { contentType: ContentType.application, body: json };
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(json.length, 0);
  return { contentType: ContentType.applicationWithData, body: Buffer.concat([prefix, json, data]) };
}

export function decodeAppMessage(contentType: ContentTypeValue, body: Buffer): { msg: AppMessage; data: Buffer | undefined } {
  let json: Buffer;
  let data: Buffer | undefined;
  if (contentType === ContentType.application) {
    json = body;
  } else if (contentType === ContentType.applicationWithData) {
    if (body.length < 4) throw new SecureChatError('malformed', 'Truncated data record.', { reason: 'bad_data_record' });
    const jsonLength = body.readUInt32BE(0);
    if (jsonLength > body.length - 4) throw new SecureChatError('malformed', 'Bad JSON length in data record.', { reason: 'bad_data_record' });
    json = body.subarray(4, 4 + jsonLength);
    data = body.subarray(4 + jsonLength);
  } else {
    throw new SecureChatError('unexpected_message', 'Not an application record.');
  }
  const msg = parseJsonObject(json, json.length, MAX_APP_JSON_DEPTH);
  if (typeof msg.type !== 'string') throw new SecureChatError('malformed', 'A message needs a string "type".', { reason: 'no_type' });
  return { msg: msg as AppMessage, data };
}
