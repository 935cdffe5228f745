/**
 * The client role of the v1 handshake (docs/PROTOCOL.md §2) over any crypto provider and any frame
 * link: the browser's path (WebCrypto, a browser WebSocket), with no Buffer and no node:* import.
 * Same messages, transcript, key schedule and checks as handshake-client.ts (which the Node client
 * runs synchronously); the server cannot tell them apart. Full handshake only: resumption is a
 * latency optimisation the browser client does without.
 */
import { SecureChatError, toSecureChatError } from '../errors.js';
import { concatBytes, constantTimeEqual, toBase64, u32be, utf8, wipe } from './bytes.js';
import { AsyncChannel } from './channel-async.js';
import type { CryptoProvider, SigningKey } from './crypto/provider.js';
import { certificateSpki } from './crypto/spki.js';
import type { FrameLink } from './frame-link.js';
import { scheduleApplication, scheduleHandshake, sharedSecretWith } from './key-schedule.js';
import { parseAuthMessage, parseJsonObject, parseServerHello, parseWelcome, parseWireError, uint8Codec, wireErrorToException } from './messages.js';
import { AsyncRecordOpener, AsyncRecordSealer, type OpenedRecordBytes } from './record-async.js';
import { ContentType } from './record-common.js';
import { CLIENT_CONTEXT, SERVER_CONTEXT } from './signature-context.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, PROTOCOL_VERSION } from './types.js';

export interface AsyncIdentity {
  /** Leaf first, DER. */
  chain: Uint8Array[];
  /** The provider's handle: in the browser a non-extractable CryptoKey. */
  privateKey: SigningKey;
}

export interface AsyncHandshakeOptions<T> {
  provider: CryptoProvider;
  identity: AsyncIdentity;
  /** Validates the server's chain (pki rules, trust anchors, expected name); throws bad_certificate. */
  verifyPeer: (chain: Uint8Array[]) => T | Promise<T>;
  timeoutMs?: number;
  now?: () => number;
}

/** header ‖ payload, as one WebSocket message. */
export function frameBytes(payload: Uint8Array): Uint8Array {
  return concatBytes(u32be(payload.length), payload);
}

const json = (value: unknown): Uint8Array => utf8(JSON.stringify(value));

/** u32 count ‖ (u32 length ‖ DER)…, as transcript.ts encodes it. */
function encodeChain(chain: Uint8Array[]): Uint8Array {
  return concatBytes(u32be(chain.length), ...chain.flatMap((der) => [u32be(der.length), der]));
}

const signedContent = (context: string, hash: Uint8Array): Uint8Array => concatBytes(utf8(context), Uint8Array.of(0), hash);

function alertError(record: OpenedRecordBytes): SecureChatError {
  return wireErrorToException(parseWireError(parseJsonObject(record.body, 4096)));
}

function wireError(err: SecureChatError): Uint8Array {
  return json({ type: 'error', code: err.code, ...(err.reason !== undefined ? { reason: err.reason } : {}), message: err.message });
}

export async function clientHandshakeAsync<T>(link: FrameLink, opts: AsyncHandshakeOptions<T>): Promise<AsyncChannel<T>> {
  const p = opts.provider;
  const now = opts.now ?? Date.now;
  let sealer: AsyncRecordSealer | undefined;

  const body = async (): Promise<AsyncChannel<T>> => {
    const share = await p.x25519Generate();
    const clientHello = json({
      type: 'client_hello',
      version: PROTOCOL_VERSION,
      nonce: toBase64(p.randomBytes(32)),
      timestamp: now(),
      key_share: toBase64(share.publicRaw),
    });
    link.send(frameBytes(clientHello));

    const serverHello = await link.next();
    const hello = parseServerHello(serverHello, uint8Codec);
    const shared = await sharedSecretWith(p, share.privateKey, hello.keyShare);
    const hs = await scheduleHandshake(p, shared, clientHello, serverHello);
    wipe(shared);
    const hsSealer = new AsyncRecordSealer(p, hs.client);
    const hsOpener = new AsyncRecordOpener(p, hs.server);
    sealer = hsSealer;

    const record = await hsOpener.open(await link.next());
    if (record.contentType === ContentType.alert) throw alertError(record);
    if (record.contentType !== ContentType.handshake) throw new SecureChatError('unexpected_message', 'Expected server_auth.');
    const serverAuth = record.body;
    const auth = parseAuthMessage(serverAuth, 'server_auth', uint8Codec);
    const peer = await opts.verifyPeer(auth.certificate);
    const sigHash = await p.sha256(concatBytes(clientHello, serverHello, encodeChain(auth.certificate)));
    let spki: Uint8Array;
    try {
      spki = certificateSpki(auth.certificate[0]);
    } catch (cause) {
      throw new SecureChatError('bad_certificate', 'The certificate could not be parsed.', { reason: 'malformed', cause });
    }
    if (!(await p.verify(spki, signedContent(SERVER_CONTEXT, sigHash), auth.signature))) {
      throw new SecureChatError('bad_certificate', 'The handshake signature does not match the certificate key.', { reason: 'key_mismatch' });
    }
    const finHash = await p.sha256(concatBytes(clientHello, serverHello, encodeChain(auth.certificate), u32be(auth.signature.length), auth.signature));
    if (!constantTimeEqual(await p.hmacSha256(hs.server.finishedKey, finHash), auth.finished)) {
      throw new SecureChatError('bad_record', 'The server finished MAC does not match the transcript.', { reason: 'bad_finished' });
    }

    const prefix = concatBytes(clientHello, serverHello, serverAuth);
    const chain = opts.identity.chain;
    const signature = await p.sign(opts.identity.privateKey, signedContent(CLIENT_CONTEXT, await p.sha256(concatBytes(prefix, encodeChain(chain)))));
    const clientFinHash = await p.sha256(concatBytes(prefix, encodeChain(chain), u32be(signature.length), signature));
    const clientAuth = json({
      type: 'client_auth',
      certificate: chain.map(toBase64),
      signature: toBase64(signature),
      finished: toBase64(await p.hmacSha256(hs.client.finishedKey, clientFinHash)),
    });
    link.send(await hsSealer.seal(ContentType.handshake, clientAuth));

    const app = await scheduleApplication(p, hs.hsSecret, await p.sha256(concatBytes(prefix, clientAuth)));
    const appSealer = new AsyncRecordSealer(p, app.client);
    const appOpener = new AsyncRecordOpener(p, app.server);
    wipe(hs.hsSecret, hs.client.key, hs.client.iv, hs.client.finishedKey, hs.server.key, hs.server.iv, hs.server.finishedKey);
    wipe(app.appSecret, app.client.key, app.client.iv, app.server.key, app.server.iv);
    sealer = appSealer;

    const firstFrame = await link.next();
    let first: OpenedRecordBytes;
    try {
      first = await appOpener.open(firstFrame);
    } catch (appErr) {
      // The server could not read client_auth (so has no application keys) and answered under s_hs.
      const fallback = await hsOpener.open(firstFrame).catch(() => undefined);
      if (fallback?.contentType === ContentType.alert) throw alertError(fallback);
      throw appErr;
    }
    hsOpener.erase();
    hsSealer.erase();
    if (first.contentType === ContentType.alert) throw alertError(first);
    if (first.contentType !== ContentType.application) throw new SecureChatError('unexpected_message', 'Expected welcome.');
    const welcome = parseWelcome(parseJsonObject(first.body, 4096));
    return new AsyncChannel<T>({ link, sealer: appSealer, opener: appOpener, peer, welcome });
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SecureChatError('handshake_timeout')), opts.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
  });
  const work = body();
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } catch (err) {
    const e = toSecureChatError(err);
    // Tell the server why, when keys exist and the error is ours (never echo the peer's own error).
    if (sealer && e.code !== 'connection_closed' && e.details?.fromPeer !== true) {
      try {
        link.send(await sealer.seal(ContentType.alert, wireError(e)));
      } catch {
        // The link is already gone.
      }
    }
    link.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
