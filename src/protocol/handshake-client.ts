/**
 * Client role of the v1 handshake (docs/PROTOCOL.md, "Handshake"):
 *   → client_hello
 *   ← server_hello (or a plaintext error), server_auth under s_hs: verifyPeer, signature, finished
 *   → client_auth under c_hs
 *   ← welcome (resolve) or an alert (reject), as the first application record
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { SecureChatError } from '../errors.js';
import { decodeAppMessage } from './app-payload.js';
import { Channel } from './channel.js';
import { encodeFrame } from './frame.js';
import { HandshakeEnding, HandshakeReader, defaultLogger } from './handshake-io.js';
import { clientResume } from './handshake-resume.js';
import {
  computeSharedSecret,
  deriveApplicationSecrets,
  deriveHandshakeSecrets,
  erase,
  eraseHandshakeSecrets,
  generateKeyShare,
  hmacSha256,
  sha256,
} from './keys.js';
import {
  encodeJson,
  encodeWireError,
  parseAuthMessage,
  parseJsonObject,
  parseServerHello,
  parseWelcome,
  parseWireError,
  wireErrorToException,
} from './messages.js';
import { ContentType, RecordOpener, RecordSealer, type OpenedRecord } from './record.js';
import { deriveResumptionMaster } from './resumption.js';
import { CLIENT_CONTEXT, SERVER_CONTEXT, signTranscript, verifyTranscript } from './signature.js';
import { finishedHash, signatureHash } from './transcript.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_FRAME, PROTOCOL_VERSION, type ClientHandshakeOptions, type SecureChannel } from './types.js';

function alertToError(record: OpenedRecord): SecureChatError {
  return wireErrorToException(parseWireError(parseJsonObject(record.body, 4096)));
}

export async function clientHandshake<T>(stream: Duplex, opts: ClientHandshakeOptions<T>): Promise<SecureChannel<T>> {
  const maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME;
  const now = opts.now ?? Date.now;
  const log = opts.log ?? defaultLogger();
  const reader = new HandshakeReader(stream, maxFrameSize);
  const ending = new HandshakeEnding(stream, reader, log);
  // Before keys exist the client has nothing to say: it just closes.

  const body = async (): Promise<SecureChannel<T>> => {
    if (opts.resume) return clientResume<T>({ stream, reader, ending, maxFrameSize, log, now, offer: opts.resume, helloOverrides: opts.helloOverrides });
    const share = generateKeyShare();
    const clientHelloBytes = encodeJson({
      type: 'client_hello',
      version: PROTOCOL_VERSION,
      nonce: randomBytes(32).toString('base64'),
      timestamp: now(),
      key_share: share.publicRaw.toString('base64'),
      ...opts.helloOverrides,
    });
    stream.write(encodeFrame(clientHelloBytes));

    const serverHelloBytes = await reader.next();
    const serverHello = parseServerHello(serverHelloBytes);
    const shared = computeSharedSecret(share.privateKey, serverHello.keyShare);
    const hs = deriveHandshakeSecrets(shared, clientHelloBytes, serverHelloBytes);
    erase(shared);
    const hsSealer = new RecordSealer(hs.client);
    const hsOpener = new RecordOpener(hs.server);
    ending.sendError = (err) => hsSealer.seal(ContentType.alert, encodeWireError(err));

    const record = hsOpener.open(await reader.next());
    if (record.contentType === ContentType.alert) throw alertToError(record);
    if (record.contentType !== ContentType.handshake) throw new SecureChatError('unexpected_message', 'Expected server_auth.');
    const serverAuthBytes = record.body;
    const auth = parseAuthMessage(serverAuthBytes, 'server_auth');
    const prefix = [clientHelloBytes, serverHelloBytes];
    const peer = await opts.verifyPeer(auth.certificate);
    verifyTranscript(auth.certificate[0], SERVER_CONTEXT, signatureHash(prefix, auth.certificate), auth.signature);
    const expectedFinished = hmacSha256(hs.server.finishedKey, finishedHash(prefix, auth.certificate, auth.signature));
    if (!timingSafeEqual(expectedFinished, auth.finished)) {
      throw new SecureChatError('bad_record', 'The server finished MAC does not match the transcript.', { reason: 'bad_finished' });
    }

    const clientPrefix = [...prefix, serverAuthBytes];
    const chain = opts.identity.chain;
    const signature = signTranscript(opts.identity.privateKey, CLIENT_CONTEXT, signatureHash(clientPrefix, chain));
    const clientAuthBytes = encodeJson({
      type: 'client_auth',
      certificate: chain.map((c) => c.toString('base64')),
      signature: signature.toString('base64'),
      finished: hmacSha256(hs.client.finishedKey, finishedHash(clientPrefix, chain, signature)).toString('base64'),
    });
    stream.write(hsSealer.seal(ContentType.handshake, clientAuthBytes));

    const app = deriveApplicationSecrets(hs.hsSecret, sha256(clientHelloBytes, serverHelloBytes, serverAuthBytes, clientAuthBytes));
    const appSealer = new RecordSealer(app.client);
    const appOpener = new RecordOpener(app.server);
    const resumptionMaster = deriveResumptionMaster(app.appSecret);
    eraseHandshakeSecrets(hs);
    erase(app.appSecret, app.client.key, app.client.iv, app.server.key, app.server.iv);
    hsSealer.erase();
    ending.sendError = (err) => appSealer.seal(ContentType.alert, encodeWireError(err));

    const firstFrame = await reader.next();
    let first: OpenedRecord;
    try {
      first = appOpener.open(firstFrame);
    } catch (appErr) {
      // The server could not read client_auth (so has no application keys) and answered under s_hs.
      let fallback: OpenedRecord | undefined;
      try {
        fallback = hsOpener.open(firstFrame);
      } catch {
        throw appErr;
      }
      if (fallback.contentType === ContentType.alert) throw alertToError(fallback);
      throw appErr;
    } finally {
      hsOpener.erase();
    }
    if (first.contentType === ContentType.alert) throw alertToError(first);
    const welcomeMsg = decodeAppMessage(first.contentType, first.body).msg;
    const welcome = parseWelcome(welcomeMsg);

    const pending = ending.succeed();
    return new Channel<T>({ stream, decoder: reader.decoder, pending, sealer: appSealer, opener: appOpener, peer, welcome, maxFrameSize, log, resumptionMaster });
  };

  return ending.run(opts.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, body);
}
