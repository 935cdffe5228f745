/**
 * Dialling the server's WebSocket listener (`serve --ws-port`) from Node: wss:// trusting only our
 * root (the TLS certificate is the server's SecureChat certificate), one frame per binary message.
 * The SecureChat handshake then runs inside exactly as over TCP, with its own checks of the chain.
 */
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { SecureChatError } from '../errors.js';
import { WebSocketDuplex } from '../protocol/ws-duplex.js';
import type { Dialer } from './client.js';

export interface WsDialOptions {
  /** PEM of the root(s) the TLS certificate must chain to; ignored for ws:// (behind a proxy, tests). */
  caPem?: string;
  /** TLS server name, when it differs from the host dialled. */
  serverName?: string;
  /** `wss` (default) or `ws` (a plain listener behind a proxy, reached from the proxy's own host). */
  scheme?: 'wss' | 'ws';
  path?: string;
  /** Largest message accepted from the server: the frame limit plus its 4-byte header. */
  maxFrameSize?: number;
  /** Source address to dial from (multi-homed hosts; tests on 127.0.0.x). */
  localAddress?: string;
}

export function wsDialer(opts: WsDialOptions = {}): Dialer {
  return (host, port, timeoutMs) =>
    new Promise<Duplex>((resolve, reject) => {
      const scheme = opts.scheme ?? 'wss';
      const hostPart = host.includes(':') ? `[${host}]` : host;
      const url = `${scheme}://${hostPart}:${port}${opts.path ?? '/ws'}`;
      const ws = new WebSocket(url, {
        ...(opts.caPem ? { ca: opts.caPem } : {}),
        ...(opts.serverName ? { servername: opts.serverName } : {}),
        handshakeTimeout: timeoutMs,
        perMessageDeflate: false,
        ...(opts.maxFrameSize ? { maxPayload: opts.maxFrameSize + 4 } : {}),
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      });
      const fail = (err: Error): void => reject(new SecureChatError('connect_failed', `Cannot open ${url}: ${err.message}`, { cause: err }));
      ws.once('error', fail);
      ws.once('open', () => {
        ws.off('error', fail);
        resolve(new WebSocketDuplex(ws));
      });
    });
}
