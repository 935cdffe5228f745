/** Public surface of protocol/: framing, handshake, channel, replay guard and the key schedule. */
export * from './types.js';
export { serverHandshake, clientHandshake } from './handshake.js';
export { ReplayGuard, type ReplayGuardOptions } from './replay-guard.js';
export { FrameDecoder, encodeFrame, encodeFrameHeader, FRAME_HEADER_SIZE } from './frame.js';
export { ContentType, MAX_RECORDS_PER_KEY, RecordOpener, RecordSealer, recordNonce, TAG_SIZE } from './record.js';
export { LABELS, deriveApplicationSecrets, deriveHandshakeSecrets, computeSharedSecret, generateKeyShare } from './keys.js';
export { SERVER_CONTEXT, CLIENT_CONTEXT } from './signature.js';
