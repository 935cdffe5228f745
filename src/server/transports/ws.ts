/**
 * The WebSocket transport (DESIGN §6): an HTTPS listener (our CA's server certificate) — or plain
 * HTTP behind a TLS-terminating reverse proxy — whose `/ws` path upgrades to WebSocket and hands
 * each connection to `server.handle` as a frame stream (protocol/ws-duplex.ts), so the handshake,
 * limits, router and backpressure are those of TCP. Every other path serves the web client.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../log.js';
import { FRAME_HEADER_SIZE } from '../../protocol/frame.js';
import { HANDSHAKE_MAX_FRAME } from '../../protocol/types.js';
import { ConnectionCounts } from '../limits.js';
import { WebSocketDuplex } from '../../protocol/ws-duplex.js';
import { API_PREFIX } from '../../protocol/enrol-wire.js';
import type { EnrolmentService } from '../enrolment.js';
import { handleApi } from './api-http.js';
import { serveStatic } from './static-files.js';

export const WS_PATH = '/ws';

export interface StreamHandler {
  handle(stream: Duplex, ip?: string): void;
}

export interface WsTransportOptions {
  host: string;
  port: number;
  /** Largest frame payload; a message may be 4 bytes (the frame header) longer. */
  maxFrameSize: number;
  /** Directory with server_cert.pem and server_key.pem; ignored behind a proxy. */
  certsDir: string;
  /** Plain HTTP; the client address comes from the proxy's X-Forwarded-For. */
  behindProxy: boolean;
  /** Built web client (index.html + assets/); null serves a "not built" notice. */
  webRoot: string | null;
  /** Answers /api/trust and /api/enrol (which refuses with enrol_disabled unless the CA key is loaded). */
  enrolment?: EnrolmentService;
  /**
   * Sockets still before the WebSocket upgrade (TLS handshake, HTTP requests for the page or the
   * API): at most `perAddress` per client address and `total` in all; beyond that a new socket is
   * closed at once. The chat server's own admission (handshake slots, session caps) takes over at
   * the upgrade, so without this a client could hold any number of sockets — and file descriptors,
   * shared with the TCP port — by never finishing TLS or its HTTP request. Behind a proxy every
   * socket comes from the proxy, so only `total` applies there.
   */
  preUpgrade?: PreUpgradeLimits;
  log: Logger;
}

export interface PreUpgradeLimits {
  perAddress: number;
  total: number;
  tlsHandshakeTimeoutMs: number;
}

/** The chat server's handshake defaults (maxHandshakesPerIp, maxHandshakes, handshakeTimeoutMs). */
export const DEFAULT_PRE_UPGRADE: PreUpgradeLimits = { perAddress: 64, total: 256, tlsHandshakeTimeoutMs: 10_000 };

export interface WsTransport {
  readonly port: number;
  readonly host: string;
  readonly url: string;
  /** Re-reads the TLS certificate and key (SIGHUP); false if they could not be loaded. */
  reloadTls(): boolean;
  /** Stops accepting; established WebSocket sessions end with the server's own close. */
  close(): Promise<void>;
}

function tlsFiles(certsDir: string): { cert: string; key: string } {
  return { cert: readFileSync(join(certsDir, 'server_cert.pem'), 'utf8'), key: readFileSync(join(certsDir, 'server_key.pem'), 'utf8') };
}

/** The client's address: the socket's peer, or behind a proxy the address the proxy appended last. */
export function clientAddress(req: http.IncomingMessage, behindProxy: boolean): string {
  if (behindProxy) {
    const header = req.headers['x-forwarded-for'];
    const value = Array.isArray(header) ? header[header.length - 1] : header;
    // The rightmost entry is the one our proxy wrote; the ones before it are the client's claims.
    const last = value?.split(',').pop()?.trim();
    if (last) return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/**
 * `ws` fixes maxPayload per server and offers no public way to change it on an open socket; its
 * parser reads the receiver's `_maxPayload` at every frame header (ws 8), so raising that field is
 * how one socket moves from the handshake bound to the record bound. False if the field is not
 * there (a `ws` whose internals changed: test/integration/ws-transport.test.ts catches it).
 */
function setMessageLimit(ws: WebSocket, bytes: number): boolean {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') return false;
  receiver._maxPayload = bytes;
  return true;
}

/** Browsers always send Origin; a page from another site must not open sessions here. */
function originAllowed(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser (the CLI, a bot): nothing to confuse
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export async function listenWebSocket(server: StreamHandler, opts: WsTransportOptions): Promise<WsTransport> {
  const preUpgrade = opts.preUpgrade ?? DEFAULT_PRE_UPGRADE;
  const tls = !opts.behindProxy;
  const api = opts.enrolment ? { enrolment: opts.enrolment, tls, log: opts.log, originAllowed } : undefined;
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (api && (req.url ?? '').startsWith(API_PREFIX)) return handleApi(api, req, res, clientAddress(req, opts.behindProxy));
    serveStatic(opts.webRoot, tls, req, res);
  };
  const httpServer = tls
    ? https.createServer({ ...tlsFiles(opts.certsDir), minVersion: 'TLSv1.2', handshakeTimeout: preUpgrade.tlsHandshakeTimeoutMs }, onRequest)
    : http.createServer(onRequest);
  httpServer.headersTimeout = 10_000;
  httpServer.requestTimeout = 30_000;
  const gate = new PreUpgradeGate(preUpgrade, !opts.behindProxy, opts.log);
  httpServer.on('connection', (socket: Socket) => gate.admit(socket));
  const wss = new WebSocketServer({
    noServer: true,
    // Checked by the parser before the message is buffered: an oversized frame costs nothing.
    // The handshake's bound first; raised to the record bound once the handshake frames are in.
    maxPayload: Math.min(HANDSHAKE_MAX_FRAME, opts.maxFrameSize) + FRAME_HEADER_SIZE,
    perMessageDeflate: false, // records are ciphertext: compression gains nothing and costs memory
    clientTracking: false,
  });

  httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_PATH || !originAllowed(req)) {
      socket.end(`HTTP/1.1 ${path !== WS_PATH ? '404 Not Found' : '403 Forbidden'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    // From here the chat server's admission counts this socket (handshake slots, then sessions).
    gate.release(socket);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const afterHandshakeFrames = (): void => {
        if (setMessageLimit(ws, opts.maxFrameSize + FRAME_HEADER_SIZE)) return;
        opts.log.error('cannot raise the WebSocket message limit after the handshake (ws internals changed?); closing the connection');
        ws.terminate();
      };
      server.handle(new WebSocketDuplex(ws, { afterHandshakeFrames }), clientAddress(req, opts.behindProxy));
    });
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(opts.port, opts.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const addr = httpServer.address() as AddressInfo;
  const scheme = tls ? 'https' : 'http';
  const url = `${scheme}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/`;
  opts.log.info(`web client and WebSocket (${WS_PATH}) on ${url}${opts.behindProxy ? ' (plain HTTP: behind a TLS proxy)' : ''}`);

  return {
    port: addr.port,
    host: addr.address,
    url,
    reloadTls() {
      if (!tls) return false;
      try {
        (httpServer as https.Server).setSecureContext(tlsFiles(opts.certsDir));
        return true;
      } catch (err) {
        opts.log.warn('web TLS certificate reload failed; keeping the old one', { error: String(err) });
        return false;
      }
    },
    close() {
      return new Promise<void>((resolve) => {
        wss.close();
        httpServer.close(() => resolve());
        httpServer.closeIdleConnections();
      });
    },
  };
}

/** Counts sockets before their upgrade, per address and in all (see WsTransportOptions.preUpgrade). */
class PreUpgradeGate {
  private readonly perAddress = new ConnectionCounts();
  /**
   * Held sockets by "address|port": the upgrade hands over the TLS socket, not the raw one the
   * 'connection' event saw, and both report the same remote endpoint. Bounded by `limits.total`.
   */
  private readonly held = new Map<string, string>();
  private lastRefusalLog = 0;

  constructor(
    private readonly limits: { perAddress: number; total: number },
    private readonly byAddress: boolean,
    private readonly log: Logger,
  ) {}

  admit(socket: Socket): void {
    const ip = this.byAddress ? (socket.remoteAddress ?? '?') : '';
    if (this.held.size >= this.limits.total || (this.byAddress && this.perAddress.get(ip) >= this.limits.perAddress)) {
      const now = Date.now();
      // One line per second at most: a flood must not become a log flood.
      if (now - this.lastRefusalLog > 1000) {
        this.lastRefusalLog = now;
        this.log.warn('WebSocket port: connection closed before TLS (too many unfinished connections)', { ip, open: this.held.size, limitPerAddress: this.limits.perAddress, limitTotal: this.limits.total });
      }
      socket.destroy();
      return;
    }
    const key = endpointKey(socket);
    this.held.set(key, ip);
    this.perAddress.add(ip);
    socket.once('close', () => this.releaseKey(key));
  }

  release(socket: Duplex): void {
    this.releaseKey(endpointKey(socket as Socket));
  }

  private releaseKey(key: string): void {
    const ip = this.held.get(key);
    if (ip === undefined) return;
    this.held.delete(key);
    this.perAddress.remove(ip);
  }
}

function endpointKey(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}|${socket.remotePort ?? 0}`;
}
