/**
 * The web client's built files, served with strict headers: a CSP that allows no inline script and
 * nothing outside this origin, no framing, no sniffing, no referrer. GET and HEAD only; paths are
 * resolved inside the root (no traversal, no dotfiles, no directory listings); unknown paths
 * without an extension get the page itself, so the app's own routes reload.
 */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.pem': 'application/x-pem-file',
};

/** 'self' covers ws:/wss: to this host in CSP Level 3, which the page's WebSocket needs. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(tls: boolean): Record<string, string> {
  return {
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    // Behind a proxy the proxy terminates TLS and should send HSTS itself (docs/WEB.md).
    ...(tls ? { 'Strict-Transport-Security': 'max-age=31536000' } : {}),
  };
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(body);
}

function fileAt(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const rel = normalize(decoded).replace(/^([/\\])+/, '');
  if (rel.split(/[/\\]/).some((part) => part.startsWith('.'))) return undefined;
  const full = join(root, rel);
  if (full !== root && !full.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined;
  try {
    return statSync(full).isFile() ? full : undefined;
  } catch {
    return undefined;
  }
}

export function serveStatic(root: string | null, tls: boolean, req: IncomingMessage, res: ServerResponse): void {
  const headers = securityHeaders(tls);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, headers, 'Method not allowed\n');
  }
  const notBuilt = 'The web client is not built; run `npm run build:web`.\n';
  if (!root) return send(res, 503, headers, notBuilt);
  const path = (req.url ?? '/').split('?')[0];
  const index = join(root, 'index.html');
  const file = path === '/' ? index : fileAt(root, path) ?? (extname(path) === '' ? index : undefined);
  if (!file) return send(res, 404, headers, 'Not found\n');
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return send(res, 503, headers, notBuilt);
  }
  res.writeHead(200, {
    ...headers,
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': String(size),
    // Built assets carry a content hash in their names; the page itself must always be fresh.
    'Cache-Control': file.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}
