/**
 * Seconds until a CRL file's earliest nextUpdate, for /healthz and the metrics.
 * Stop-gap: the ops engineer's src/server/crl-status.ts is to export the same figure from the CRL
 * actually in force; once it lands, admin-http and serve should take it from there.
 */
import { readFileSync } from 'node:fs';
import { parseCrlsPem } from '../pki/parsed-crl.js';

/** Negative once expired; null when no CRL in the file has a nextUpdate. Throws when unreadable. */
export function crlSecondsToExpiry(file: string, now: number = Date.now()): number | null {
  let soonest = Infinity;
  for (const crl of parseCrlsPem(readFileSync(file, 'utf8'))) soonest = Math.min(soonest, crl.nextUpdate?.getTime() ?? Infinity);
  return Number.isFinite(soonest) ? Math.floor((soonest - now) / 1000) : null;
}
