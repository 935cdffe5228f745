/**
 * A deliberately low-level client for the fuzzer: a socket plus a frame reader, and a v1 client
 * handshake built from the protocol primitives that hands back the raw application record sealer
 * and opener (SecureChatClient hides them, as it should). It trusts whatever server answers: the
 * fuzzer attacks the server, it does not test the client's checks.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { SecureChatError } from '../../src/errors.js';
import { FrameDecoder, encodeFrame } from '../../src/protocol/frame.js';
import {
  computeSharedSecret,
  deriveApplicationSecrets,
  deriveHandshakeSecrets,
  generateKeyShare,
  hmacSha256,
  sha256,
} from '../../src/protocol/keys.js';
import { encodeJson, parseAuthMessage, parseServerHello } from '../../src/protocol/messages.js';
import { ContentType, RecordOpener, RecordSealer } from '../../src/protocol/record.js';
import { CLIENT_CONTEXT, signTranscript } from '../../src/protocol/signature.js';
import { finishedHash, signatureHash } from '../../src/protocol/transcript.js';
import { DEFAULT_MAX_FRAME, PROTOCOL_VERSION, type LocalIdentity } from '../../src/protocol/types.js';
import { pumpFrames } from '../lib/frame-pump.js';

/** Reads whole frames from a socket; `next` resolves null on close or timeout. */
export class FrameReader {
  private readonly decoder = new FrameDecoder(DEFAULT_MAX_FRAME * 2);
  private readonly frames: Buffer[] = [];
  private waiter: (() => void) | null = null;
  /** Set by handOff: frames go straight to it instead of the queue. */
  private sink: ((frame: Buffer) => void) | null = null;
  closed = false;

  constructor(readonly socket: net.Socket) {
    pumpFrames(socket, this.decoder, (frame) => {
      if (this.sink) return this.sink(frame);
      this.frames.push(frame);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  async next(timeoutMs: number): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed || Date.now() >= deadline) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
    return this.frames.shift() ?? null;
  }

  /**
   * From now on every frame goes to `onFrame` as it arrives, starting with those already queued:
   * the server's first records after welcome (the session_tickets push, docs/PROTOCOL.md §9.2)
   * often arrive in the same chunk as welcome, and dropping them would put the record opener out
   * of sequence. `next` must not be used after this.
   */
  handOff(onFrame: (frame: Buffer) => void): void {
    this.sink = onFrame;
    for (const frame of this.frames.splice(0)) onFrame(frame);
  }

  /** Resolves once the peer has closed (or after the timeout). */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    if (this.closed) return true;
    await Promise.race([once(this.socket, 'close'), new Promise((r) => setTimeout(r, timeoutMs))]);
    return this.closed;
  }

  private wake(): void {
    this.waiter?.();
  }
}

/** `localAddress` (e.g. 127.0.0.7) lets one machine stand in for many client addresses on loopback. */
export async function dialRaw(port: number, timeoutMs = 5000, localAddress?: string): Promise<FrameReader> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true, ...(localAddress ? { localAddress } : {}) });
  socket.on('error', () => undefined);
  const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), timeoutMs);
  try {
    await once(socket, 'connect');
  } finally {
    clearTimeout(timer);
  }
  return new FrameReader(socket);
}

export function clientHelloBytes(overrides: Record<string, unknown> = {}, keyShare = generateKeyShare()): { bytes: Buffer; keyShare: ReturnType<typeof generateKeyShare> } {
  const bytes = encodeJson({
    type: 'client_hello',
    version: PROTOCOL_VERSION,
    nonce: randomBytes(32).toString('base64'),
    timestamp: Date.now(),
    key_share: keyShare.publicRaw.toString('base64'),
    ...overrides,
  });
  return { bytes, keyShare };
}

export interface RawSession {
  reader: FrameReader;
  /** Seals client→server application records (sequence continues from the handshake). */
  sealer: RecordSealer;
  /** Opens server→client application records, in order. */
  opener: RecordOpener;
}

interface UpToServerAuth {
  reader: FrameReader;
  ch: Buffer;
  sh: Buffer;
  sa: Buffer;
  hs: ReturnType<typeof deriveHandshakeSecrets>;
}

/** client_hello out, server_hello and the (encrypted) server_auth in. */
async function helloToServerAuth(port: number, timeoutMs: number, localAddress?: string): Promise<UpToServerAuth> {
  const reader = await dialRaw(port, 5000, localAddress);
  const { bytes: ch, keyShare } = clientHelloBytes();
  reader.socket.write(encodeFrame(ch));
  const sh = await reader.next(timeoutMs);
  if (!sh) throw new SecureChatError('connection_closed', 'No server_hello.');
  const hello = parseServerHello(sh);
  const hs = deriveHandshakeSecrets(computeSharedSecret(keyShare.privateKey, hello.keyShare), ch, sh);
  const saFrame = await reader.next(timeoutMs);
  if (!saFrame) throw new SecureChatError('connection_closed', 'No server_auth.');
  const sa = new RecordOpener(hs.server).open(saFrame);
  if (sa.contentType !== ContentType.handshake) throw new SecureChatError('unexpected_message', 'Expected server_auth.');
  parseAuthMessage(sa.body, 'server_auth');
  return { reader, ch, sh, sa: sa.body, hs };
}

/**
 * Starts a handshake and, where client_auth belongs, refuses it with an alert carrying `body`
 * (what a client does when it rejects the server's certificate): the peer text the server logs.
 */
export async function refuseHandshake(port: number, body: Record<string, unknown>, timeoutMs = 10_000): Promise<void> {
  const { reader, hs } = await helloToServerAuth(port, timeoutMs);
  reader.socket.write(new RecordSealer(hs.client).seal(ContentType.alert, encodeJson(body)));
  await reader.closedWithin(timeoutMs);
  reader.socket.destroy();
}

/** Runs a valid client handshake by hand; throws SecureChatError if the server refuses. */
export async function rawHandshake(port: number, identity: LocalIdentity, timeoutMs = 10_000, localAddress?: string): Promise<RawSession> {
  const { reader, ch, sh, sa, hs } = await helloToServerAuth(port, timeoutMs, localAddress);
  const prefix = [ch, sh, sa];
  const signature = signTranscript(identity.privateKey, CLIENT_CONTEXT, signatureHash(prefix, identity.chain));
  const ca = encodeJson({
    type: 'client_auth',
    certificate: identity.chain.map((c) => c.toString('base64')),
    signature: signature.toString('base64'),
    finished: hmacSha256(hs.client.finishedKey, finishedHash(prefix, identity.chain, signature)).toString('base64'),
  });
  reader.socket.write(new RecordSealer(hs.client).seal(ContentType.handshake, ca));
  const app = deriveApplicationSecrets(hs.hsSecret, sha256(ch, sh, sa, ca));
  const session: RawSession = { reader, sealer: new RecordSealer(app.client), opener: new RecordOpener(app.server) };
  const welcome = await reader.next(timeoutMs);
  if (!welcome) throw new SecureChatError('connection_closed', 'No welcome.');
  const rec = session.opener.open(welcome);
  if (rec.contentType !== ContentType.application) throw new SecureChatError('unexpected_message', `Handshake refused: ${rec.body.toString('utf8').slice(0, 200)}`);
  return session;
}
