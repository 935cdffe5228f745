/**
 * The JSON API beside the web client's files on the WebSocket port (paths and bodies:
 * protocol/enrol-wire.ts). The one place that turns an API failure into an HTTP reply
 * `{"error": {"code", "message"}}`. What a hostile client meets, in order: the method, the Origin
 * (a page of another site must not use a visitor's browser to enrol), enrolment on and the rate of
 * its address, the declared length, the media type, then a body read that stops at the limit —
 * all before any parsing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_CATALOGUE, SecureChatError, toSecureChatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { API_STATUS, ENROL_PATH, MAX_ENROL_BODY_BYTES, TRUST_PATH, type ApiError } from '../../protocol/enrol-wire.js';
import type { EnrolmentService } from '../enrolment.js';
import { securityHeaders } from './static-files.js';

export interface ApiOptions {
  enrolment: EnrolmentService;
  tls: boolean;
  log: Logger;
  /** Same host as the page, or no Origin at all (not a browser). */
  originAllowed: (req: IncomingMessage) => boolean;
}

function sendJson(res: ServerResponse, status: number, tls: boolean, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...securityHeaders(tls),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** An error as the API sends it: our own message for client errors, only the catalogue text for server errors. */
function sendError(res: ServerResponse, tls: boolean, err: unknown, status?: number, extra: Record<string, string> = {}): void {
  const e = toSecureChatError(err);
  const code = e.code === 'io_error' ? 'internal' : e.code;
  const httpStatus = status ?? API_STATUS[code] ?? 500;
  const message = httpStatus >= 500 && code !== 'busy' ? ERROR_CATALOGUE[code].message : e.message;
  const retryAfterMs = e.details?.retryAfterMs;
  const headers = { ...extra, ...(typeof retryAfterMs === 'number' ? { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) } : {}) };
  const body: ApiError = { error: { code, message } };
  sendJson(res, httpStatus, tls, body, headers);
}

/** Reads at most `limit` bytes; past it, rejects with request_too_large (the rest is never buffered). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = (): SecureChatError => new SecureChatError('request_too_large', `The body is larger than ${limit} bytes; send only {"token", "csr"}.`);
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('aborted', () => reject(new SecureChatError('connection_closed')));
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonBody(bytes: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new SecureChatError('bad_request', 'The body is not UTF-8 text.');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SecureChatError('bad_request', 'The body is not valid JSON; send {"token": "...", "csr": "<PEM>"}.');
  }
}

function isJsonType(header: string | undefined): boolean {
  if (!header) return false;
  const [type, ...params] = header.split(';').map((p) => p.trim().toLowerCase());
  return type === 'application/json' && params.every((p) => p === '' || p === 'charset=utf-8');
}

async function enrol(opts: ApiOptions, req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
  opts.enrolment.admit(ip);
  const declared = req.headers['content-length'];
  if (declared !== undefined && !(Number(declared) <= MAX_ENROL_BODY_BYTES)) {
    throw new SecureChatError('request_too_large', `The body is larger than ${MAX_ENROL_BODY_BYTES} bytes; send only {"token", "csr"}.`);
  }
  if (!isJsonType(req.headers['content-type'])) {
    return sendError(res, opts.tls, new SecureChatError('bad_request', 'Send the body as Content-Type: application/json.'), 415);
  }
  const body = parseJsonBody(await readBody(req, MAX_ENROL_BODY_BYTES));
  sendJson(res, 200, opts.tls, await opts.enrolment.enrol(body, ip));
}

/** Handles a request under /api/; `ip` is the client address (the proxy's X-Forwarded-For when behind one). */
export function handleApi(opts: ApiOptions, req: IncomingMessage, res: ServerResponse, ip: string): void {
  const path = (req.url ?? '').split('?')[0];
  const fail = (err: unknown, status?: number, extra?: Record<string, string>): void => {
    if (res.headersSent) return void res.destroy();
    // A refused body may still be arriving: answer, then drop the connection rather than read it.
    res.once('finish', () => {
      if (!req.complete) req.destroy();
    });
    sendError(res, opts.tls, err, status, { ...extra, ...(!req.complete ? { Connection: 'close' } : {}) });
  };
  if (path === TRUST_PATH) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(new SecureChatError('bad_request', `${TRUST_PATH} takes GET.`), 405, { Allow: 'GET, HEAD' });
    return sendJson(res, 200, opts.tls, opts.enrolment.trust());
  }
  if (path === ENROL_PATH) {
    if (req.method !== 'POST') return fail(new SecureChatError('bad_request', `${ENROL_PATH} takes POST with a JSON body.`), 405, { Allow: 'POST' });
    if (!opts.originAllowed(req)) return fail(new SecureChatError('forbidden', 'Cross-origin enrolment requests are refused; use the page this server serves.'));
    enrol(opts, req, res, ip).catch((err: unknown) => {
      if (!(err instanceof SecureChatError)) opts.log.error('enrolment request failed', { ip, error: String(err) });
      fail(err);
    });
    return;
  }
  fail(new SecureChatError('not_found', `No API endpoint ${path}; there are ${ENROL_PATH} and ${TRUST_PATH}.`));
}
