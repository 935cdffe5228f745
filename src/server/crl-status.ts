/**
 * How fresh the server's CRL is: the one number the health/admin view and the stale-CRL warnings
 * share. A CRL past its nextUpdate makes the validator fail closed for every client
 * (server_crl_expired), so operators need to see it coming.
 */
import type { ParsedCrl } from '../pki/parsed-crl.js';

/** Inside this window before nextUpdate the server warns (hourly) and re-signs a CRL it can. */
export const CRL_WARN_WINDOW_MS = 48 * 3600_000;

export interface CrlStatus {
  /** Earliest nextUpdate among the loaded CRLs (ms), or null when none sets one (or no CRL is configured). */
  nextUpdate: number | null;
  /** Seconds until that nextUpdate (negative once past it); null as for nextUpdate. */
  secondsToExpiry: number | null;
  /** Past nextUpdate: every handshake is refused until the CRL is re-signed. */
  expired: boolean;
  /** Inside CRL_WARN_WINDOW_MS of nextUpdate (or past it). */
  stale: boolean;
}

export function crlStatus(crls: readonly ParsedCrl[], now: number = Date.now()): CrlStatus {
  const times = crls.map((c) => c.nextUpdate?.getTime()).filter((t): t is number => t !== undefined);
  if (times.length === 0) return { nextUpdate: null, secondsToExpiry: null, expired: false, stale: false };
  const nextUpdate = Math.min(...times);
  return {
    nextUpdate,
    secondsToExpiry: Math.floor((nextUpdate - now) / 1000),
    expired: now > nextUpdate,
    stale: nextUpdate - now < CRL_WARN_WINDOW_MS,
  };
}

/** The CRL's seconds to expiry for a running server (null: no CRL or no nextUpdate). For /health and the admin view. */
export function crlSecondsToExpiry(server: { crlStatus(): CrlStatus }): number | null {
  return server.crlStatus().secondsToExpiry;
}
