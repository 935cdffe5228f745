/**
 * Event-loop delay of live-session re-validation at 10,000 sessions with distinct client
 * certificates (issue 9 §4). Compares what the server did before (every minute, rebuild and
 * re-verify every session's full path) with what it does now (revalidation.ts): on a CRL change,
 * re-validate only the sessions holding a revoked serial; on expiry, pop the expired ones off a heap.
 *
 *   npx tsx scripts/bench/revalidation.ts [--sessions N] [--revoked N] [--json]
 *
 * Runs in this process (no server, no sockets). The old sweep is synchronous, so its duration is
 * the event-loop block; the new ones yield between slices, so the figure that matters is the worst
 * event-loop delay a 1 ms timer saw meanwhile (monitorEventLoopDelay), reported next to the wall time.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { SecureChatError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { loadCa } from '../../src/pki/ca.js';
import { ensureCertificates } from '../../src/pki/generate.js';
import { generateKeyPair, signingAlgorithm, toPublicCryptoKey } from '../../src/pki/keys.js';
import { commonName, leafExtensions, randomSerialHex } from '../../src/pki/profiles.js';
import { x509 } from '../../src/pki/x509.js';
import { Revalidator, type Revalidatable } from '../../src/server/revalidation.js';
import { identityFromPath, type PeerIdentity } from '../../src/server/session.js';
import { loadTrust } from '../../src/server/start.js';

export interface RevalidationBench {
  sessions: number;
  revoked: number;
  /** Before: every session's full path re-validated (ms the loop was blocked; max loop delay ms). */
  fullSweepMs: number;
  fullSweepDelayMaxMs: number;
  /** Now, on a CRL change with `revoked` serials that live sessions hold. */
  crlSweepMs: number;
  crlSweepDelayMaxMs: number;
  /** Now, when 1 % of the sessions expire at the same moment. */
  expirySweepMs: number;
  expirySweepDelayMaxMs: number;
  expiredClosed: number;
}

class BenchSession implements Revalidatable {
  closed = false;
  constructor(readonly id: string, readonly identity: PeerIdentity) {}
  get username(): string {
    return this.identity.username;
  }
  fail(_err: SecureChatError): void {
    this.closed = true;
  }
}

/** Times a sweep (wall time until it is done) and the worst event-loop delay a 1 ms timer saw meanwhile. */
async function measure(fn: () => unknown): Promise<{ ms: number; delayMaxMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 20));
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 20));
  h.disable();
  return { ms, delayMaxMs: h.max / 1e6 };
}

export async function benchRevalidation(opts: { sessions?: number; revoked?: number; progress?: (line: string) => void } = {}): Promise<RevalidationBench> {
  const n = opts.sessions ?? 10_000;
  const revokedCount = Math.min(opts.revoked ?? 100, n);
  const progress = opts.progress ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'securechat-bench-reval-'));
  try {
    await ensureCertificates({ dir, users: [] });
    const ca = await loadCa(dir);
    const trust = loadTrust(dir).trust;
    progress(`revalidation: issuing ${n} distinct client certificates (one shared key, distinct serials)`);
    const keys = generateKeyPair('p256');
    const publicKey = await toPublicCryptoKey(keys.publicKey);
    const extensions = await leafExtensions({ kind: 'client', keyType: 'p256', publicKey, issuer: ca.issuer.cert, sans: [] });
    const now = Date.now();
    const sessions: BenchSession[] = [];
    for (let i = 0; i < n; i++) {
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerialHex(),
        subject: commonName(`u${i}`),
        issuer: ca.issuer.cert.subjectName,
        notBefore: new Date(now - 60_000),
        // 1 % expire together an hour from now; the rest are spread over 90 days.
        notAfter: new Date(i % 100 === 0 ? now + 3600_000 : now + 7200_000 + (i % 90) * 86_400_000),
        publicKey,
        signingKey: ca.issuer.signingKey,
        signingAlgorithm: signingAlgorithm(ca.issuer.keyType),
        extensions,
      });
      const path = trust.verifyDer([Buffer.from(cert.rawData)], { purpose: 'client' });
      sessions.push(new BenchSession(`s${i}`, identityFromPath(path)));
    }
    let clock = now;
    const revalidator = new Revalidator({ verify: (p) => void trust.verifyDer(p, { purpose: 'client' }), log: silentLogger(), now: () => clock });
    try {
      for (const s of sessions) revalidator.track(s);
      progress(`revalidation: sweeping ${n} sessions`);
      // The new sweeps first: the old one allocates enough for a major GC to land in the next window.
      const revokedSerials = sessions.slice(0, revokedCount).map((s) => s.identity.serials[0]);
      const crl = await measure(() => revalidator.revoked(revokedSerials));
      clock = now + 3600_001;
      let expiredClosed = 0;
      const expiry = await measure(async () => {
        expiredClosed = await revalidator.sweepExpired();
      });
      const full = await measure(() => {
        for (const s of sessions) {
          try {
            trust.verifyDer(s.identity.path, { purpose: 'client' });
          } catch {
            // counted the same either way
          }
        }
      });
      return {
        sessions: n,
        revoked: revokedCount,
        fullSweepMs: full.ms,
        fullSweepDelayMaxMs: full.delayMaxMs,
        crlSweepMs: crl.ms,
        crlSweepDelayMaxMs: crl.delayMaxMs,
        expirySweepMs: expiry.ms,
        expirySweepDelayMaxMs: expiry.delayMaxMs,
        expiredClosed,
      };
    } finally {
      revalidator.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The benchmark table's row for it (id `revalidation`). */
export function revalidationRow(r: RevalidationBench) {
  const f = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
  const worst = Math.max(r.crlSweepDelayMaxMs, r.expirySweepDelayMaxMs);
  return {
    id: 'revalidation',
    figure: `max event-loop delay during a revalidation sweep (${r.sessions} sessions)`,
    ours: `CRL change ${f(r.crlSweepDelayMaxMs)} ms (${r.revoked} revoked, done in ${f(r.crlSweepMs)} ms); expiry ${f(r.expirySweepDelayMaxMs)} ms (${r.expiredClosed} closed)`,
    baseline: `full re-validation (before): ${f(r.fullSweepDelayMaxMs)} ms`,
    serverCpu: '—',
    target: '≤ 10 ms event-loop delay',
    met: worst <= 10,
    values: { ...r },
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const argv = process.argv.slice(2);
  const arg = (name: string): number | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : undefined;
  };
  const json = argv.includes('--json');
  const result = await benchRevalidation({ sessions: arg('--sessions'), revoked: arg('--revoked'), progress: (l) => process.stderr.write(`· ${l}\n`) });
  const row = revalidationRow(result);
  console.log(json ? JSON.stringify(row, null, 2) : `${row.id}: ${row.figure}: ${row.ours}; ${row.baseline}; target ${row.target}: ${row.met ? 'met' : 'MISSED'}`);
}
