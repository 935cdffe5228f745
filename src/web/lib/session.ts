/**
 * One authenticated connection of the web client: a browser WebSocket to `/ws`, the v1 handshake
 * (protocol/handshake-client-async.ts) with the page's non-extractable key, the server's chain
 * checked against the trust anchors and the server name (pki/web-verify.ts), then requests and
 * pushes as in docs/MESSAGES.md. No DOM beyond the WebSocket factory, so Node tests drive it too.
 */
import { SecureChatError } from '../../errors.js';
import type { CryptoProvider, SigningKey } from '../../protocol/crypto/provider.js';
import type { AsyncChannel } from '../../protocol/channel-async.js';
import { parseWireError, wireErrorToException } from '../../protocol/messages.js';
import { WebSocketFrameLink, type BrowserSocket } from '../../protocol/frame-link.js';
import { clientHandshakeAsync } from '../../protocol/handshake-client-async.js';
import type { AppMessage } from '../../protocol/types.js';
import { verifyServerChainWeb } from '../../pki/web-verify.js';

/** Requests without an answer after this long fail with `timeout` (a 10 MB upload answers per chunk). */
export const REQUEST_TIMEOUT_MS = 60_000;
/** Requests in flight at once; more wait in the caller (the UI never comes close). */
export const MAX_IN_FLIGHT = 256;

export interface SessionOptions {
  makeSocket: () => BrowserSocket;
  provider: CryptoProvider;
  chain: Uint8Array[];
  privateKey: SigningKey;
  /** Trust anchors (DER) the server chain must lead to. */
  roots: Uint8Array[];
  /** The name the server certificate must carry (the page's host). */
  serverName: string;
}

export interface ServerIdentity {
  subject: string;
  fingerprint: string;
}

type Pending = { resolve: (r: Record<string, unknown>) => void; reject: (e: SecureChatError) => void; timer: ReturnType<typeof setTimeout> };

export class WebSession {
  onPush: (msg: AppMessage, data: Uint8Array | undefined) => void = () => undefined;
  onClose: (err: SecureChatError | undefined) => void = () => undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly channel: AsyncChannel<ServerIdentity>) {
    channel.onMessage = (msg, data) => this.onMessage(msg, data);
    channel.onClose = (err) => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(err ?? new SecureChatError('connection_closed'));
      }
      this.pending.clear();
      this.onClose(err);
    };
  }

  static async connect(opts: SessionOptions): Promise<WebSession> {
    const link = await WebSocketFrameLink.open(opts.makeSocket);
    const channel = await clientHandshakeAsync<ServerIdentity>(link, {
      provider: opts.provider,
      identity: { chain: opts.chain, privateKey: opts.privateKey },
      verifyPeer: async (chain) => {
        const result = await verifyServerChainWeb(chain, { roots: opts.roots, hostname: opts.serverName, purpose: 'server' });
        if (!result.ok) throw new SecureChatError('bad_certificate', `Server certificate refused: ${result.detail}.`, { reason: result.reason });
        return { subject: result.subject, fingerprint: result.fingerprint };
      },
    });
    return new WebSession(channel);
  }

  get server(): ServerIdentity {
    return this.channel.peer;
  }

  get closed(): boolean {
    return this.channel.closed;
  }

  /** Starts reading after the caller set onPush/onClose. */
  start(): void {
    this.channel.start();
  }

  async request<R = Record<string, unknown>>(type: string, params: Record<string, unknown> = {}, data?: Uint8Array): Promise<R> {
    if (this.pending.size >= MAX_IN_FLIGHT) throw new SecureChatError('busy', 'Too many requests in flight.');
    const id = this.nextId++;
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SecureChatError('timeout'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
    await this.channel.send({ type, id, ...params }, data);
    return (await answer) as R;
  }

  close(): void {
    this.channel.close();
  }

  private onMessage(msg: AppMessage, data: Uint8Array | undefined): void {
    if (msg.type === 'response' && typeof msg.id === 'number') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok === true) p.resolve((msg.result ?? {}) as Record<string, unknown>);
      else {
        const e = msg.error;
        p.reject(wireErrorToException(parseWireError(e !== null && typeof e === 'object' ? (e as Record<string, unknown>) : {})));
      }
      return;
    }
    if (msg.type === 'ping') {
      void this.channel.send({ type: 'pong' }).catch(() => undefined);
      return;
    }
    // Resumption tickets: the web client always runs a full handshake (docs/WEB.md).
    if (msg.type === 'session_tickets' || msg.type === 'pong') return;
    this.onPush(msg, data);
  }
}
