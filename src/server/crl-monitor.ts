/**
 * The server's CRL file, kept current while the server runs (issue 9 §4):
 * - reloaded when the file changes (polled, so atomic replace-by-rename is seen) and on SIGHUP; an
 *   unreadable new file is logged and the previous CRL stays in force (never silently un-revoke);
 * - after each load, only the sessions holding a revoked serial are re-checked (revalidation.ts);
 * - inside the last 48 h before nextUpdate it warns every hour, and when the CA directory holds the
 *   CA key unencrypted (the zero-config set-up) it re-signs the CRL itself before it goes stale.
 */
import { existsSync, readFileSync, unwatchFile, watchFile } from 'node:fs';
import { toSecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import { caPaths, writeCrl } from '../pki/ca.js';
import { parseCrlsPem, type ParsedCrl } from '../pki/parsed-crl.js';
import type { TrustStore } from '../pki/trust-store.js';
import { crlStatus, type CrlStatus } from './crl-status.js';

export interface CrlMonitorOptions {
  file: string;
  trust: TrustStore;
  log: Logger;
  /** After every successful load: the revoked serials of the new CRLs (for the revocation sweep). */
  onLoaded: (revokedSerials: Set<string>) => void;
  /** CA directory: when its CA key is unencrypted the server re-signs a CRL about to go stale. */
  caDir?: string;
  /** How often freshness is checked (default hourly: the warning repeats at this rate). */
  checkEveryMs?: number;
  /** File poll interval (default 500 ms). */
  pollMs?: number;
  now?: () => number;
}

export class CrlMonitor {
  private crls: ParsedCrl[] = [];
  private readonly checkTimer: NodeJS.Timeout;
  private checking: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly options: CrlMonitorOptions) {
    this.now = options.now ?? Date.now;
    this.reload('start');
    watchFile(options.file, { interval: options.pollMs ?? 500, persistent: false }, (curr, prev) => {
      if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size) return;
      this.reload('file changed');
    });
    this.checkTimer = setInterval(() => void this.check(), options.checkEveryMs ?? 3600_000);
    this.checkTimer.unref();
    void this.check();
  }

  status(): CrlStatus {
    return crlStatus(this.crls, this.now());
  }

  /** Re-reads the file; on failure keeps the CRL in force and logs an error. Returns whether it loaded. */
  reload(why: string): boolean {
    const { file, trust, log } = this.options;
    let crls: ParsedCrl[];
    try {
      crls = parseCrlsPem(readFileSync(file, 'utf8'));
    } catch (err) {
      // Keep the previous CRL: an unreadable file must not silently un-revoke anyone.
      log.error('CRL reload failed; keeping the previous CRL', { file, why, error: toSecureChatError(err).message });
      return false;
    }
    const first = this.crls.length === 0;
    this.crls = crls;
    trust.setCrls(crls);
    const revoked = new Set<string>();
    for (const crl of crls) for (const serial of crl.revoked.keys()) revoked.add(serial);
    this.options.onLoaded(revoked);
    if (!first) log.info('CRL reloaded', { file, why, revoked: revoked.size, secondsToExpiry: this.status().secondsToExpiry });
    return true;
  }

  /** Warns inside the last 48 h (or re-signs when the CA key is at hand). Runs at start and hourly. */
  check(): Promise<void> {
    this.checking ??= this.checkOnce().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  stop(): void {
    clearInterval(this.checkTimer);
    unwatchFile(this.options.file);
  }

  private canResign(): boolean {
    const dir = this.options.caDir;
    if (!dir) return false;
    const key = caPaths(dir).rootKey;
    if (!existsSync(key)) return false;
    // An encrypted CA key needs the operator's passphrase: the server never holds it.
    return !/ENCRYPTED/.test(readFileSync(key, 'utf8'));
  }

  private async checkOnce(): Promise<void> {
    const { log, file } = this.options;
    const status = this.status();
    if (!status.stale || status.secondsToExpiry === null) return;
    if (this.canResign()) {
      try {
        const result = await writeCrl({ dir: this.options.caDir as string });
        this.reload('re-signed by the server');
        log.info(`The CRL was about to go stale: re-signed it with the CA key in ${this.options.caDir} (crlNumber ${result.crlNumber}, next update ${result.nextUpdate.toISOString()}).`);
        return;
      } catch (err) {
        log.error('re-signing the CRL failed', { file, error: toSecureChatError(err).message });
      }
    }
    const hours = Math.floor(status.secondsToExpiry / 3600);
    const when = status.expired ? 'has EXPIRED' : `expires in ${hours} h`;
    const line =
      `The CRL in ${file} ${when} (nextUpdate ${new Date(status.nextUpdate as number).toISOString()}): ` +
      `from then on every client is refused (server_crl_expired) until it is re-signed. ` +
      `Run \`securechat ca crl --dir ${this.options.caDir ?? 'CERTS'} [--passphrase-file FILE]\` (the server reloads it by itself).`;
    if (status.expired) log.error(line, { secondsToExpiry: status.secondsToExpiry });
    else log.warn(line, { secondsToExpiry: status.secondsToExpiry });
  }
}
