/**
 * `securechat serve --check-config`: everything `serve` would refuse at start, found without
 * starting: the merged configuration, the database URL, and the certificates the config names
 * (server chain valid for serverAuth under the root, key matching the certificate, CRL current).
 * Nothing is written and no database is opened. Exit 0 when all is well, 2 otherwise.
 */
import { readFileSync } from 'node:fs';
import type { ServerConfig } from '../config.js';
import { caExists } from '../pki/ca.js';
import { parseCrlsPem } from '../pki/parsed-crl.js';
import { crlStatus } from '../server/crl-status.js';
import { redactClusterUrl } from '../server/cluster/index.js';
import { readClusterSecret } from '../server/cluster/secret.js';
import { loadServerIdentity, loadTrust, nodeIdFor } from '../server/start.js';
import { parseDbUrl, redactDbUrl } from '../storage/index.js';

export interface CheckLine {
  ok: boolean;
  what: string;
  detail: string;
}

const DAY = 86_400;

function attempt(what: string, fn: () => string): CheckLine {
  try {
    return { ok: true, what, detail: fn() };
  } catch (err) {
    return { ok: false, what, detail: err instanceof Error ? err.message : String(err) };
  }
}

function days(seconds: number): string {
  return seconds >= DAY ? `${Math.floor(seconds / DAY)} d` : `${Math.max(0, Math.floor(seconds / 3600))} h`;
}

export function checkConfig(config: ServerConfig, now: Date = new Date()): CheckLine[] {
  const lines: CheckLine[] = [{ ok: true, what: 'config', detail: `listen ${config.host}:${config.port}, log level ${config.logLevel}, admin ${config.adminPort === null ? 'off' : `${config.adminHost}:${config.adminPort}`}` }];
  lines.push(
    attempt('database', () => {
      const parsed = parseDbUrl(config.db);
      return `${parsed.kind} ${redactDbUrl(config.db)} (not opened)`;
    }),
  );
  // Only for a cluster: a single node's output stays as it was. The bus is not contacted.
  if (config.cluster !== 'memory') {
    lines.push(
      config.db.startsWith('mysql://')
        ? { ok: true, what: 'cluster', detail: `${redactClusterUrl(config.cluster)} as node ${nodeIdFor(config)} (not contacted)` }
        : { ok: false, what: 'cluster', detail: 'a cluster needs one database shared by every node: use a mysql:// database' },
    );
    lines.push(
      config.clusterSecretFile === 'none'
        ? { ok: true, what: 'cluster secret', detail: 'none: session-ticket keys per node (a failover costs a full handshake)' }
        : attempt('cluster secret', () => {
            readClusterSecret(config.clusterSecretFile).fill(0);
            return `${config.clusterSecretFile}: 0600, long enough (ticket keys shared by the nodes)`;
          }),
    );
  }
  if (!caExists(config.certs)) {
    lines.push(
      config.autoGenerateCerts
        ? { ok: true, what: 'certificates', detail: `no CA in ${config.certs}/: the first start generates one (a development CA)` }
        : { ok: false, what: 'certificates', detail: `no CA in ${config.certs}/ and autoGenerateCerts is off` },
    );
    return lines;
  }
  let trustLoaded: ReturnType<typeof loadTrust> | undefined;
  lines.push(
    attempt('root and CRL', () => {
      trustLoaded = loadTrust(config.certs);
      return `${trustLoaded.trust.roots.length} root(s)${trustLoaded.crlFile ? `, CRL ${trustLoaded.crlFile}` : ', no CRL'}`;
    }),
  );
  lines.push(
    attempt('server certificate', () => {
      // loadServerIdentity refuses a key that is not the certificate's (the same check a reload makes).
      const identity = loadServerIdentity(config.certs);
      if (!trustLoaded) throw new Error('cannot check the chain without the root');
      const path = trustLoaded.trust.verifyDer(identity.chain, { purpose: 'server', time: now });
      const leaf = path[0];
      const left = Math.floor((leaf.notAfter.getTime() - now.getTime()) / 1000);
      return `${leaf.commonName ?? '(no CN)'}, valid for serverAuth, key matches, expires in ${days(left)}${left < 30 * DAY ? ' (renew soon)' : ''}`;
    }),
  );
  const crlFile = trustLoaded?.crlFile;
  if (crlFile) {
    lines.push(
      attempt('CRL freshness', () => {
        const left = crlStatus(parseCrlsPem(readFileSync(crlFile, 'utf8')), now.getTime()).secondsToExpiry;
        if (left === null) return 'no nextUpdate';
        if (left <= 0) throw new Error(`the CRL expired ${days(-left)} ago: every client would be refused (run \`securechat ca crl --dir ${config.certs}\`)`);
        return `next update in ${days(left)}`;
      }),
    );
  }
  return lines;
}

export function formatCheck(lines: CheckLine[]): string {
  const width = Math.max(...lines.map((l) => l.what.length));
  return lines.map((l) => `${l.ok ? 'ok  ' : 'FAIL'}  ${l.what.padEnd(width)}  ${l.detail}`).join('\n');
}
