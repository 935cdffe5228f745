/**
 * `securechat status`: asks a running server's admin listener for /healthz and /metrics.json and
 * prints them for humans (or `--json`). Exit 0 healthy, 1 unhealthy or unreachable, 2 bad flags.
 * Imports nothing heavy: it is also the Docker HEALTHCHECK, run every 30 s.
 */
import http from 'node:http';
import type { Command } from 'commander';
import { SecureChatError } from '../errors.js';
import { action } from './run.js';

interface StatusFlags {
  adminPort?: string;
  adminHost: string;
  json?: boolean;
  timeout: string;
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

interface Metric {
  name: string;
  type: string;
  values: MetricValue[];
}

interface Health {
  status: 'ok' | 'fail';
  version: string;
  uptimeSeconds: number;
  checks: Record<string, { ok: boolean; detail: string }>;
}

function getJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          reject(new SecureChatError('bad_input', `${url} did not answer JSON (is this a SecureChat admin port?)`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new SecureChatError('connect_failed', `Cannot reach the admin listener at ${url}: ${err.message}`)));
  });
}

function parsePort(value: string | undefined): number {
  if (value === undefined) throw new SecureChatError('usage', 'Give the admin port: --admin-port N or SECURECHAT_ADMIN_PORT (the server must run with --admin-port).');
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new SecureChatError('usage', `--admin-port must be 1..65535, got "${value}".`);
  return port;
}

/** Sums a metric's samples, optionally only those whose labels match. */
export function total(metrics: Metric[], name: string, where: Record<string, string> = {}): number {
  const metric = metrics.find((m) => m.name === name);
  if (!metric) return 0;
  return metric.values
    .filter((v) => (v.metricName === undefined || v.metricName === name) && Object.entries(where).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** label value → summed value, largest first. */
export function byLabel(metrics: Metric[], name: string, label: string, where: Record<string, string> = {}): [string, number][] {
  const out = new Map<string, number>();
  for (const v of metrics.find((m) => m.name === name)?.values ?? []) {
    if (!Object.entries(where).every(([k, want]) => String(v.labels[k]) === want)) continue;
    const key = String(v.labels[label] ?? '');
    out.set(key, (out.get(key) ?? 0) + v.value);
  }
  return [...out].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
}

/** Upper bound (bucket edge) of the q-quantile of a histogram, over all its label sets. */
export function quantileBound(metrics: Metric[], name: string, q: number): number | null {
  const buckets = new Map<number, number>();
  for (const v of metrics.find((m) => m.name === name)?.values ?? []) {
    if (v.metricName !== `${name}_bucket`) continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  const edges = [...buckets].sort((a, b) => a[0] - b[0]);
  const count = edges.at(-1)?.[1] ?? 0;
  if (count === 0) return null;
  return edges.find(([, cumulative]) => cumulative >= q * count)?.[0] ?? null;
}

const list = (pairs: [string, number][]): string => pairs.map(([k, n]) => `${k} ${n}`).join(', ');

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${Math.floor(seconds % 60)} s`;
}

const ms = (seconds: number | null): string => (seconds === null ? '–' : seconds === Infinity ? '> 5 s' : `≤ ${seconds * 1000} ms`);

export function formatStatus(url: string, health: Health, metrics: Metric[]): string {
  const rows: [string, string][] = [];
  for (const [name, check] of Object.entries(health.checks)) rows.push([name, `${check.ok ? 'ok' : 'FAIL'}: ${check.detail}`]);
  const loggedIn = total(metrics, 'securechat_sessions', { state: 'logged_in' });
  rows.push(['sessions', `${total(metrics, 'securechat_sessions')} (${loggedIn} logged in)`]);
  const failed = byLabel(metrics, 'securechat_handshakes_total', 'reason', { result: 'failed' });
  rows.push(['handshakes', `ok ${total(metrics, 'securechat_handshakes_total', { result: 'ok' })}, failed ${failed.reduce((s, [, n]) => s + n, 0)}${failed.length ? ` (${list(failed)})` : ''}, refused by client ${total(metrics, 'securechat_handshakes_total', { result: 'refused_by_client' })}`]);
  const errors = byLabel(metrics, 'securechat_requests_total', 'code').filter(([code]) => code !== 'ok');
  rows.push(['requests', `${total(metrics, 'securechat_requests_total')} (errors: ${errors.length ? list(errors) : 'none'})`]);
  rows.push(['messages', `stored ${total(metrics, 'securechat_messages_stored_total')}${byLabel(metrics, 'securechat_messages_stored_total', 'kind').length ? ` (${list(byLabel(metrics, 'securechat_messages_stored_total', 'kind'))})` : ''}, delivery acks ${total(metrics, 'securechat_delivery_acks_total')}`]);
  const commit = 'securechat_storage_commit_seconds';
  rows.push(['storage writes', `${sumOf(metrics, `${commit}_count`)} (p50 ${ms(quantileBound(metrics, commit, 0.5))}, p99 ${ms(quantileBound(metrics, commit, 0.99))})`]);
  rows.push(['send queue', `${total(metrics, 'securechat_send_queue_bytes')} B`]);
  rows.push(['rss', `${(total(metrics, 'process_resident_memory_bytes') / 1048576).toFixed(1)} MB`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`SecureChat ${health.version} at ${url}: ${health.status === 'ok' ? 'healthy' : 'UNHEALTHY'}, up ${duration(health.uptimeSeconds)}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}

function sumOf(metrics: Metric[], metricName: string): number {
  let n = 0;
  for (const m of metrics) for (const v of m.values) if (v.metricName === metricName) n += v.value;
  return n;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("Show a running server's health and metrics, read from its admin listener (serve --admin-port).")
    .option('--admin-port <port>', 'the server\'s admin port (default: env SECURECHAT_ADMIN_PORT)')
    .option('--admin-host <host>', 'the admin listener\'s address', process.env.SECURECHAT_ADMIN_HOST || '127.0.0.1')
    .option('--timeout <ms>', 'how long to wait for an answer', '5000')
    .option('--json', 'print {"ok":…,"health":…,"metrics":[…]} instead of text')
    .addHelpText(
      'after',
      `
Examples:
  $ securechat status --admin-port 9090
  $ securechat status --admin-port 9090 --json | jq .health

Exit codes: 0 healthy, 1 unhealthy or unreachable, 2 bad arguments.`,
    )
    .action(
      action(async (flags: StatusFlags) => {
        const port = parsePort(flags.adminPort ?? (process.env.SECURECHAT_ADMIN_PORT || undefined));
        const timeoutMs = Number(flags.timeout) || 5000;
        const host = flags.adminHost.includes(':') ? `[${flags.adminHost}]` : flags.adminHost;
        const url = `http://${host}:${port}`;
        const [healthRes, metricsRes] = await Promise.all([getJson(`${url}/healthz`, timeoutMs), getJson(`${url}/metrics.json`, timeoutMs)]);
        const health = healthRes.body as Health;
        const metrics = metricsRes.body as Metric[];
        if (!health || typeof health !== 'object' || !health.checks || !Array.isArray(metrics)) {
          throw new SecureChatError('bad_input', `${url} is not a SecureChat admin listener.`);
        }
        const ok = health.status === 'ok';
        process.stdout.write(flags.json ? JSON.stringify({ ok, health, metrics }) + '\n' : formatStatus(url, health, metrics) + '\n');
        process.exitCode = ok ? 0 : 1;
      }),
    );
}
