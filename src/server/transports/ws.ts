/**
 * The WebSocket transport (DESIGN §6): an HTTPS listener (our CA's server certificate) — or plain
 * HTTP behind a TLS-terminating reverse proxy — whose `/ws` path upgrades to WebSocket and hands
 * each connection to `server.handle` as a frame stream (protocol/ws-duplex.ts), so the handshake,
 * limits, router and backpressure are those of TCP. Every other path serves the web client.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import type { Logger } from '../../log.js';
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
  log: Logger;
}

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
  const tls = !opts.behindProxy;
  const api = opts.enrolment ? { enrolment: opts.enrolment, tls, log: opts.log, originAllowed } : undefined;
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (api && (req.url ?? '').startsWith(API_PREFIX)) return handleApi(api, req, res, clientAddress(req, opts.behindProxy));
    serveStatic(opts.webRoot, tls, req, res);
  };
  const httpServer = tls ? https.createServer({ ...tlsFiles(opts.certsDir), minVersion: 'TLSv1.2' }, onRequest) : http.createServer(onRequest);
  httpServer.headersTimeout = 10_000;
  httpServer.requestTimeout = 30_000;
  const wss = new WebSocketServer({
    noServer: true,
    // Checked by the parser before the message is buffered: an oversized frame costs nothing.
    maxPayload: opts.maxFrameSize + 4,
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
    wss.handleUpgrade(req, socket, head, (ws) => {
      server.handle(new WebSocketDuplex(ws), clientAddress(req, opts.behindProxy));
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
