/**
 * Validated certificate paths by the exact chain a peer sent (issue 17). A returning client's
 * handshake then costs a SHA-256 of its chain instead of parsing and a signature check per
 * certificate. Only successes are cached, and an entry is used only while what made it valid still
 * holds: the validation time (now) inside every certificate's validity and every CRL's
 * thisUpdate..nextUpdate window. The owner clears the cache whenever its CRLs change (a revocation
 * must apply to the very next handshake). Bounded LRU; a hit moves the entry to the back.
 */
import { createHash } from 'node:crypto';
import type { ParsedCert } from './cert.js';

/** Entries kept by default: one per distinct chain (≈ one per active user certificate). */
export const DEFAULT_PATH_CACHE_SIZE = 4096;

interface Entry {
  path: readonly ParsedCert[];
  /** The entry may be used for validation times in [validFrom, validUntil). */
  validFrom: number;
  validUntil: number;
}

export class PathCache {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly maxEntries = DEFAULT_PATH_CACHE_SIZE) {}

  get size(): number {
    return this.entries.size;
  }

  /** The cache key: purpose, expected name and every certificate (length-prefixed). */
  static key(chain: readonly Buffer[], purpose: string, hostname: string | undefined): string {
    const h = createHash('sha256');
    h.update(`${purpose}\0${hostname ?? ''}\0`);
    const len = Buffer.allocUnsafe(4);
    for (const der of chain) {
      len.writeUInt32BE(der.length, 0);
      h.update(len);
      h.update(der);
    }
    return h.digest('base64');
  }

  get(key: string, now: number): ParsedCert[] | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now < entry.validFrom || now >= entry.validUntil) {
      this.entries.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return [...entry.path];
  }

  /** `crlWindow`: the CRLs' common validity (latest thisUpdate, earliest nextUpdate), if any CRL is used. */
  set(key: string, path: readonly ParsedCert[], crlWindow: { from: number; until: number } | null): void {
    if (this.maxEntries <= 0) return;
    let validFrom = crlWindow?.from ?? -Infinity;
    let validUntil = crlWindow?.until ?? Infinity;
    for (const cert of path) {
      validFrom = Math.max(validFrom, cert.notBefore.getTime());
      // notAfter is inclusive (RFC 5280): the first instant past it must revalidate.
      validUntil = Math.min(validUntil, cert.notAfter.getTime() + 1);
    }
    this.entries.delete(key);
    this.entries.set(key, { path: [...path], validFrom, validUntil });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
