/** `serve`'s admin listener: the health checks of a running server, wired to /healthz and /metrics. */
import type { ServerConfig } from '../config.js';
import type { Logger } from '../log.js';
import { startAdminServer, type AdminServer, type HealthCheck } from '../server/admin-http.js';
import { crlSecondsToExpiry } from '../server/crl-status.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { RunningServer } from '../server/start.js';

function storageCheck(running: RunningServer): () => Promise<HealthCheck> {
  return async () => {
    const started = performance.now();
    await running.storage.ping();
    const ms = performance.now() - started;
    return { ok: true, detail: `reachable (${ms.toFixed(1)} ms)`, latencyMs: Number(ms.toFixed(3)) };
  };
}

function crlCheck(running: RunningServer): () => HealthCheck {
  return () => {
    if (!running.crlFile) return { ok: true, detail: 'no CRL configured', secondsToExpiry: null };
    const seconds = crlSecondsToExpiry(running.server);
    if (seconds === null) return { ok: true, detail: 'CRL without nextUpdate', secondsToExpiry: null };
    return seconds > 0
      ? { ok: true, detail: `next update in ${Math.floor(seconds / 3600)} h`, secondsToExpiry: seconds }
      : { ok: false, detail: `expired ${Math.floor(-seconds / 3600)} h ago: clients are refused (crl_expired)`, secondsToExpiry: seconds };
  };
}

/** Degraded is not down: the node still serves its own users, so /healthz stays 200 and says so. */
function clusterCheck(running: RunningServer): () => HealthCheck {
  return () => {
    const node = running.server.services.cluster;
    if (!node) return { ok: true, detail: 'single node' };
    if (node.downSince === null) return { ok: true, detail: `node ${node.nodeId} on ${node.backend.kind}`, degraded: false };
    return { ok: true, detail: `degraded: ${node.backend.kind} unreachable for ${Math.round((Date.now() - node.downSince) / 1000)} s; delivery across nodes by database catch-up`, degraded: true };
  };
}

export async function startServeAdmin(config: ServerConfig, running: RunningServer, metrics: ServerMetrics, version: string, log: Logger): Promise<AdminServer | undefined> {
  if (config.adminPort === null) return undefined;
  const admin = await startAdminServer({
    host: config.adminHost,
    port: config.adminPort,
    metrics,
    version,
    checks: { storage: storageCheck(running), crl: crlCheck(running), cluster: clusterCheck(running) },
  });
  log.info(`admin listening on ${admin.url} (/healthz, /metrics)`);
  return admin;
}
