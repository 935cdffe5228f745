/**
 * Both roles of the resumed handshake (docs/PROTOCOL.md §9.4), entered from serverHandshake /
 * clientHandshake when a ticket is offered:
 *   → client_hello + ticket + binder           (plain)
 *   ← server_hello psk:"accepted"               (plain)  ┐ one write
 *   ← server_finished under s_hs                          ┘
 *   → client_finished under c_hs
 *   ← welcome under s_ap
 * A fresh X25519 exchange on every resumption, mixed with the ticket's PSK (psk_dhe_ke). No
 * signatures and no certificates: the PSK was authenticated by the session that issued it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { SecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeAppMessage } from './app-payload.js';
import { Channel } from './channel.js';
import { encodeFrame } from './frame.js';
import type { HandshakeEnding, HandshakeReader } from './handshake-io.js';
import { computeSharedSecret, deriveApplicationSecrets, erase, eraseHandshakeSecrets, generateKeyShare, sha256 } from './keys.js';
import { encodeJson, encodeWireError, parseJsonObject, parseServerHello, parseWelcome, parseWireError, wireErrorToException } from './messages.js';
import { ContentType, RecordOpener, RecordSealer, type OpenedRecord } from './record.js';
import {
  clientFinishedMac,
  computeBinder,
  deriveEarlySecrets,
  deriveResumedHandshakeSecrets,
  deriveResumptionMaster,
  encodeClientFinished,
  encodeResumedHello,
  encodeResumedServerHello,
  encodeServerFinished,
  parseClientFinished,
  parseResumedHello,
  parseResumedServerHello,
  parseServerFinished,
  resumptionRefused,
  serverFinishedMac,
} from './resumption.js';
import { PROTOCOL_VERSION, type ClientHandshakeOptions, type ReplayGuardLike, type ResumptionAcceptor, type ResumptionOffer, type SecureChannel } from './types.js';

interface RoleIo {
  stream: Duplex;
  reader: HandshakeReader;
  ending: HandshakeEnding;
  maxFrameSize: number;
  log: Logger;
  now: () => number;
}

export interface ServerResumeContext<T> extends RoleIo {
  clientHelloBytes: Buffer;
  acceptor: ResumptionAcceptor<T> | undefined;
  replayGuard: ReplayGuardLike;
  source?: string;
  /** DER of our leaf certificate: its SHA-256 goes into server_finished. */
  serverLeaf: Buffer;
  sessionId: string;
}

function alertToError(record: OpenedRecord): SecureChatError {
  return wireErrorToException(parseWireError(parseJsonObject(record.body, 4096)));
}

const leafHashes = new WeakMap<Buffer, Buffer>();
function leafHash(der: Buffer): Buffer {
  let h = leafHashes.get(der);
  if (!h) leafHashes.set(der, (h = sha256(der)));
  return h;
}

export async function serverResume<T>(c: ServerResumeContext<T>): Promise<SecureChannel<T>> {
  const CH = c.clientHelloBytes;
  const hello = parseResumedHello(CH);
  c.replayGuard.check(hello.nonce, hello.timestamp, c.now());
  if (!c.acceptor) throw resumptionRefused('disabled', 'This server does not resume sessions.');
  // Cheap first: one AEAD open and an HMAC decide before any X25519 or storage work.
  const opened = c.acceptor.open(hello.ticket, c.now());
  const early = deriveEarlySecrets(opened.psk);
  const binderOk = timingSafeEqual(computeBinder(early.binderKey, hello.partial), hello.binder);
  erase(early.binderKey, opened.psk);
  if (!binderOk) throw resumptionRefused('bad_binder', 'The ticket binder does not verify.');
  const peer = await c.acceptor.admit(opened.state, hello.ticket);

  const share = generateKeyShare();
  const shared = computeSharedSecret(share.privateKey, hello.keyShare);
  c.replayGuard.record(hello.nonce, hello.timestamp, c.now(), c.source);
  const SH = encodeResumedServerHello({ version: PROTOCOL_VERSION, nonce: randomBytes(32), keyShare: share.publicRaw });
  const hs = deriveResumedHandshakeSecrets(early, shared, CH, SH);
  erase(shared, early.earlySecret, early.derived, hs.dheSecret);
  const hsSealer = new RecordSealer(hs.server);
  const hsOpener = new RecordOpener(hs.client);
  c.ending.sendError = (err) => hsSealer.seal(ContentType.alert, encodeWireError(err));

  const certHash = leafHash(c.serverLeaf);
  const SF = encodeServerFinished(certHash, serverFinishedMac(hs.server.finishedKey, CH, SH, certHash));
  c.stream.write(Buffer.concat([encodeFrame(SH), hsSealer.seal(ContentType.handshake, SF)]));

  const record = hsOpener.open(await c.reader.next());
  if (record.contentType === ContentType.alert) throw alertToError(record);
  if (record.contentType !== ContentType.handshake) throw new SecureChatError('unexpected_message', 'Expected client_finished.');
  const CF = record.body;
  const finished = parseClientFinished(CF);
  const expected = clientFinishedMac(hs.client.finishedKey, CH, SH, SF);
  const app = deriveApplicationSecrets(hs.hsSecret, sha256(CH, SH, SF, CF));
  const resumptionMaster = deriveResumptionMaster(app.appSecret);
  const appSealer = new RecordSealer(app.server);
  const appOpener = new RecordOpener(app.client);
  eraseHandshakeSecrets(hs);
  hsSealer.erase();
  hsOpener.erase();
  erase(app.appSecret, app.client.key, app.client.iv, app.server.key, app.server.iv);
  c.ending.sendError = (err) => appSealer.seal(ContentType.alert, encodeWireError(err));
  if (!timingSafeEqual(expected, finished)) {
    throw new SecureChatError('bad_record', 'The client finished MAC does not match the transcript.', { reason: 'bad_finished' });
  }

  const welcome = { sessionId: c.sessionId, serverTime: c.now() };
  const welcomeFrame = appSealer.seal(ContentType.application, encodeJson({ type: 'welcome', session_id: welcome.sessionId, server_time: welcome.serverTime }));
  const pending = c.ending.succeed();
  c.stream.write(welcomeFrame);
  return new Channel<T>({
    stream: c.stream, decoder: c.reader.decoder, pending, sealer: appSealer, opener: appOpener, peer, welcome,
    maxFrameSize: c.maxFrameSize, log: c.log, resumptionMaster, resumed: true,
  });
}

export interface ClientResumeContext<T> extends RoleIo {
  offer: ResumptionOffer<T>;
  helloOverrides: ClientHandshakeOptions<T>['helloOverrides'];
}

export async function clientResume<T>(c: ClientResumeContext<T>): Promise<SecureChannel<T>> {
  const share = generateKeyShare();
  const early = deriveEarlySecrets(c.offer.psk);
  const { bytes: CH } = encodeResumedHello(
    {
      fields: {
        type: 'client_hello',
        version: PROTOCOL_VERSION,
        nonce: randomBytes(32).toString('base64'),
        timestamp: c.now(),
        key_share: share.publicRaw.toString('base64'),
        ...c.helloOverrides,
      },
      ticket: c.offer.ticket,
    },
    early.binderKey,
  );
  erase(early.binderKey);
  c.stream.write(encodeFrame(CH));

  const SH = await c.reader.next();
  const serverHello = parseResumedServerHello(SH, parseServerHello);
  const shared = computeSharedSecret(share.privateKey, serverHello.keyShare);
  const hs = deriveResumedHandshakeSecrets(early, shared, CH, SH);
  erase(shared, early.earlySecret, early.derived, hs.dheSecret);
  const hsSealer = new RecordSealer(hs.client);
  const hsOpener = new RecordOpener(hs.server);
  c.ending.sendError = (err) => hsSealer.seal(ContentType.alert, encodeWireError(err));

  const record = hsOpener.open(await c.reader.next());
  if (record.contentType === ContentType.alert) throw alertToError(record);
  if (record.contentType !== ContentType.handshake) throw new SecureChatError('unexpected_message', 'Expected server_finished.');
  const SF = record.body;
  const sf = parseServerFinished(SF);
  if (!timingSafeEqual(serverFinishedMac(hs.server.finishedKey, CH, SH, sf.serverCertSha256), sf.finished)) {
    throw new SecureChatError('bad_record', 'The server finished MAC does not match the transcript.', { reason: 'bad_finished' });
  }
  // The server holds the PSK; it must also still be the certificate this client verified.
  if (!timingSafeEqual(sf.serverCertSha256, c.offer.serverCertSha256)) {
    throw resumptionRefused('server_changed', 'The server resumed under another certificate than the one verified for this ticket.');
  }
  const CF = encodeClientFinished(clientFinishedMac(hs.client.finishedKey, CH, SH, SF));
  c.stream.write(hsSealer.seal(ContentType.handshake, CF));

  const app = deriveApplicationSecrets(hs.hsSecret, sha256(CH, SH, SF, CF));
  const resumptionMaster = deriveResumptionMaster(app.appSecret);
  const appSealer = new RecordSealer(app.client);
  const appOpener = new RecordOpener(app.server);
  eraseHandshakeSecrets(hs);
  erase(app.appSecret, app.client.key, app.client.iv, app.server.key, app.server.iv);
  hsSealer.erase();
  c.ending.sendError = (err) => appSealer.seal(ContentType.alert, encodeWireError(err));

  const firstFrame = await c.reader.next();
  let first: OpenedRecord;
  try {
    first = appOpener.open(firstFrame);
  } catch (appErr) {
    // The server could not read client_finished and answered under s_hs: learn its code.
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
  const welcome = parseWelcome(decodeAppMessage(first.contentType, first.body).msg);
  const pending = c.ending.succeed();
  return new Channel<T>({
    stream: c.stream, decoder: c.reader.decoder, pending, sealer: appSealer, opener: appOpener, peer: c.offer.peer, welcome,
    maxFrameSize: c.maxFrameSize, log: c.log, resumptionMaster, resumed: true,
  });
}
