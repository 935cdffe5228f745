/**
 * Server role of the v1 handshake (docs/PROTOCOL.md, "Handshake"):
 *   ← client_hello   validate, replay/clock check (before any expensive crypto)
 *   → server_hello   + server_auth encrypted under s_hs (one write)
 *   ← client_auth    encrypted under c_hs: chain (verifyPeer), signature, finished
 *   → welcome        first application record, or an alert, then close
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { SecureChatError } from '../errors.js';
import { Channel } from './channel.js';
import { encodeFrame } from './frame.js';
import { HandshakeEnding, HandshakeReader, defaultLogger } from './handshake-io.js';
import { serverResume } from './handshake-resume.js';
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
import { encodeJson, encodeWireError, parseAuthMessage, parseClientHello, parseWireError, parseJsonObject, wireErrorToException } from './messages.js';
import { ContentType, RecordOpener, RecordSealer } from './record.js';
import { deriveResumptionMaster, offersTicket } from './resumption.js';
import { CLIENT_CONTEXT, SERVER_CONTEXT, signTranscript, verifyTranscript } from './signature.js';
import { finishedHash, signatureHash } from './transcript.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_FRAME, PROTOCOL_VERSION, type SecureChannel, type ServerHandshakeOptions } from './types.js';

const noStage = (_stage: string): void => undefined;

/** The steps ServerHandshakeOptions.onStage names, in order, for a full (not resumed) handshake. */
export const SERVER_HANDSHAKE_STAGES = [
  'connection setup',
  'wait: client_hello',
  'parse client_hello',
  'replay guard check',
  'X25519 keygen',
  'X25519 agreement',
  'replay guard record',
  'server_hello encode',
  'handshake key schedule',
  'sign transcript',
  'server_auth encode + seal + write',
  'wait: client_auth',
  'open + parse client_auth',
  'application key schedule',
  'verify client chain (verifyPeer)',
  'verify client signature',
  'finished check',
  'welcome encode + seal + write',
  'Channel construction',
] as const;

export async function serverHandshake<T>(stream: Duplex, opts: ServerHandshakeOptions<T>): Promise<SecureChannel<T>> {
  const stage = opts.onStage ?? noStage;
  const maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME;
  const now = opts.now ?? Date.now;
  const log = opts.log ?? defaultLogger();
  const reader = new HandshakeReader(stream, maxFrameSize);
  const ending = new HandshakeEnding(stream, reader, log);
  // Before keys exist the only way to tell the client is a clear-text error frame.
  ending.sendError = (err) => encodeFrame(encodeWireError(err));
  stage('connection setup');

  const body = async (): Promise<SecureChannel<T>> => {
    const clientHelloBytes = await reader.next();
    stage('wait: client_hello');
    if (offersTicket(clientHelloBytes)) {
      return serverResume<T>({
        stream, reader, ending, maxFrameSize, log, now, clientHelloBytes, acceptor: opts.resumption, replayGuard: opts.replayGuard,
        ...(opts.source !== undefined ? { source: opts.source } : {}), serverLeaf: opts.identity.chain[0], sessionId: opts.sessionId,
      });
    }
    const hello = parseClientHello(clientHelloBytes);
    stage('parse client_hello');
    // Cheap, stateless checks first; the nonce is stored only once the key share proved usable,
    // so a malformed hello leaves nothing behind in the shared cache.
    opts.replayGuard.check(hello.nonce, hello.timestamp, now());
    stage('replay guard check');

    const share = generateKeyShare();
    stage('X25519 keygen');
    const shared = computeSharedSecret(share.privateKey, hello.keyShare);
    stage('X25519 agreement');
    await opts.replayGuard.record(hello.nonce, hello.timestamp, now(), opts.source);
    stage('replay guard record');
    const serverHelloBytes = encodeJson({
      type: 'server_hello',
      status: 'ok',
      version: PROTOCOL_VERSION,
      nonce: randomBytes(32).toString('base64'),
      key_share: share.publicRaw.toString('base64'),
    });
    stage('server_hello encode');
    const hs = deriveHandshakeSecrets(shared, clientHelloBytes, serverHelloBytes);
    erase(shared);
    const hsSealer = new RecordSealer(hs.server);
    const hsOpener = new RecordOpener(hs.client);
    ending.sendError = (err) => hsSealer.seal(ContentType.alert, encodeWireError(err));
    stage('handshake key schedule');

    const prefix = [clientHelloBytes, serverHelloBytes];
    const chain = opts.identity.chain;
    const signature = signTranscript(opts.identity.privateKey, SERVER_CONTEXT, signatureHash(prefix, chain));
    stage('sign transcript');
    const serverAuthBytes = encodeJson({
      type: 'server_auth',
      certificate: chain.map((c) => c.toString('base64')),
      signature: signature.toString('base64'),
      finished: hmacSha256(hs.server.finishedKey, finishedHash(prefix, chain, signature)).toString('base64'),
    });
    stream.write(Buffer.concat([encodeFrame(serverHelloBytes), hsSealer.seal(ContentType.handshake, serverAuthBytes)]));
    stage('server_auth encode + seal + write');

    const clientAuthRecord = await reader.next();
    stage('wait: client_auth');
    const record = hsOpener.open(clientAuthRecord);
    if (record.contentType === ContentType.alert) {
      throw wireErrorToException(parseWireError(parseJsonObject(record.body, 4096)));
    }
    if (record.contentType !== ContentType.handshake) throw new SecureChatError('unexpected_message', 'Expected client_auth.');
    const clientAuthBytes = record.body;
    const auth = parseAuthMessage(clientAuthBytes, 'client_auth');
    stage('open + parse client_auth');

    const app = deriveApplicationSecrets(hs.hsSecret, sha256(clientHelloBytes, serverHelloBytes, serverAuthBytes, clientAuthBytes));
    const appSealer = new RecordSealer(app.server);
    const appOpener = new RecordOpener(app.client);
    const resumptionMaster = deriveResumptionMaster(app.appSecret);
    const clientPrefix = [...prefix, serverAuthBytes];
    const expectedFinished = hmacSha256(hs.client.finishedKey, finishedHash(clientPrefix, auth.certificate, auth.signature));
    eraseHandshakeSecrets(hs);
    hsSealer.erase();
    hsOpener.erase();
    erase(app.appSecret, app.client.key, app.client.iv, app.server.key, app.server.iv);
    // From here the client listens with application keys: welcome or the error is the first app record.
    ending.sendError = (err) => appSealer.seal(ContentType.alert, encodeWireError(err));
    stage('application key schedule');

    const peer = await opts.verifyPeer(auth.certificate);
    stage('verify client chain (verifyPeer)');
    verifyTranscript(auth.certificate[0], CLIENT_CONTEXT, signatureHash(clientPrefix, auth.certificate), auth.signature);
    stage('verify client signature');
    if (!timingSafeEqual(expectedFinished, auth.finished)) {
      throw new SecureChatError('bad_record', 'The client finished MAC does not match the transcript.', { reason: 'bad_finished' });
    }
    stage('finished check');

    const welcome = { sessionId: opts.sessionId, serverTime: now() };
    const welcomeFrame = appSealer.seal(
      ContentType.application,
      encodeJson({ type: 'welcome', session_id: welcome.sessionId, server_time: welcome.serverTime }),
    );
    const pending = ending.succeed();
    stream.write(welcomeFrame);
    stage('welcome encode + seal + write');
    const channel = new Channel<T>({ stream, decoder: reader.decoder, pending, sealer: appSealer, opener: appOpener, peer, welcome, maxFrameSize, log, resumptionMaster });
    stage('Channel construction');
    return channel;
  };

  return ending.run(opts.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, body);
}
