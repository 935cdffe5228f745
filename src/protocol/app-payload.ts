/**
 * Application record bodies: a JSON message alone (content type `application`), or a JSON header
 * plus raw bytes (content type `applicationWithData`: u32 BE json length ‖ json ‖ data), so file
 * chunks travel as binary rather than base64.
 */
import { SecureChatError } from '../errors.js';
import { readU32be } from './bytes.js';
import { parseJsonObject } from './messages.js';
import { ContentType, type ContentTypeValue } from './record-common.js';
import type { AppMessage } from './types.js';

const MAX_APP_JSON_DEPTH = 64;

export interface EncodedApp {
  contentType: ContentTypeValue;
  body: Buffer;
}

/** A record body as the pieces that make it up, so data need not be copied into one buffer before sealing. */
export interface EncodedAppParts {
  contentType: ContentTypeValue;
  parts: Buffer[];
  length: number;
}

export function encodeAppJson(msg: AppMessage): Buffer {
  if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') {
    throw new SecureChatError('bad_request', 'A message needs a string "type".');
  }
  return Buffer.from(JSON.stringify(msg), 'utf8');
}

/** The body of a record for an already JSON-encoded message (from encodeAppJson) plus optional data. */
export function encodeAppParts(json: Buffer, data?: Buffer): EncodedAppParts {
  if (data === undefined) return { contentType: ContentType.application, parts: [json], length: json.length };
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(json.length, 0);
  return { contentType: ContentType.applicationWithData, parts: [prefix, json, data], length: 4 + json.length + data.length };
}

export function encodeAppMessage(msg: AppMessage, data?: Buffer): EncodedApp {
  const { contentType, parts } = encodeAppParts(encodeAppJson(msg), data);
  return { contentType, body: parts.length === 1 ? parts[0] : Buffer.concat(parts) };
}

/** Pure Uint8Array code (the browser's channel uses it too); a Buffer body gives Buffer data. */
export function decodeAppMessage<B extends Uint8Array = Buffer>(contentType: ContentTypeValue, body: B): { msg: AppMessage; data: B | undefined } {
  let json: Uint8Array;
  let data: B | undefined;
  if (contentType === ContentType.application) {
    json = body;
  } else if (contentType === ContentType.applicationWithData) {
    if (body.length < 4) throw new SecureChatError('malformed', 'Truncated data record.', { reason: 'bad_data_record' });
    const jsonLength = readU32be(body, 0);
    if (jsonLength > body.length - 4) throw new SecureChatError('malformed', 'Bad JSON length in data record.', { reason: 'bad_data_record' });
    json = body.subarray(4, 4 + jsonLength);
    data = body.subarray(4 + jsonLength) as B;
  } else {
    throw new SecureChatError('unexpected_message', 'Not an application record.');
  }
  const msg = parseJsonObject(json, json.length, MAX_APP_JSON_DEPTH);
  if (typeof msg.type !== 'string') throw new SecureChatError('malformed', 'A message needs a string "type".', { reason: 'no_type' });
  return { msg: msg as AppMessage, data };
}
