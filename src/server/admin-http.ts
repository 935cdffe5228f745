/**
 * The admin HTTP listener: GET /healthz (JSON; 200 healthy, 503 not) and GET /metrics (Prometheus
 * text; /metrics.json for `securechat status`). Plain node:http and no authentication, which is
 * why it binds to 127.0.0.1 unless told otherwise and is off unless a port is given. It never
 * serves anything a client sent or any secret: only counters and the health verdict.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServerMetrics } from './metrics.js';

export interface HealthCheck {
  ok: boolean;
  /** Human-readable: "ok (1.2 ms)", "expires in 6 d", the error message. */
  detail: string;
  [key: string]: unknown;
}

export interface HealthReport {
  status: 'ok' | 'fail';
  version: string;
  uptimeSeconds: number;
  checks: Record<string, HealthCheck>;
}

export interface AdminServerOptions {
  host: string;
  port: number;
  metrics: ServerMetrics;
  version: string;
  /** Named checks run on every /healthz; a check that throws or times out fails. */
  checks: Record<string, () => Promise<HealthCheck> | HealthCheck>;
  checkTimeoutMs?: number;
}

export interface AdminServer {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

async function runCheck(check: () => Promise<HealthCheck> | HealthCheck, timeoutMs: number): Promise<HealthCheck> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthCheck>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export async function health(options: Pick<AdminServerOptions, 'checks' | 'version' | 'checkTimeoutMs'>): Promise<HealthReport> {
  const names = Object.keys(options.checks);
  const results = await Promise.all(names.map((n) => runCheck(options.checks[n], options.checkTimeoutMs ?? 2000)));
  const checks = Object.fromEntries(names.map((n, i) => [n, results[i]]));
  return {
    status: results.every((r) => r.ok) ? 'ok' : 'fail',
    version: options.version,
    uptimeSeconds: Math.floor(process.uptime()),
    checks,
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

async function route(options: AdminServerOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  if (path === '/healthz') {
    const report = await health(options);
    return send(res, report.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(report) + '\n');
  }
  if (path === '/metrics') return send(res, 200, options.metrics.contentType, await options.metrics.text());
  if (path === '/metrics.json') return send(res, 200, 'application/json', JSON.stringify(await options.metrics.json()) + '\n');
  return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz or /metrics\n');
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    route(options, req, res).catch((err: unknown) => send(res, 500, 'text/plain; charset=utf-8', `error: ${(err as Error).message}\n`));
  });
  // Scrapers keep connections alive; they must not hold shutdown up.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostForUrl = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    host: addr.address,
    port: addr.port,
    url: `http://${hostForUrl}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
