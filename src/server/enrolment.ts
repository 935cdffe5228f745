/**
 * The server's side of enrolment by token (docs/WEB.md "Enrolment by token (server side)"): admits
 * POST /api/enrol requests (rate per address and overall, a cap on signings at once), hands them to
 * the CA (pki/enrol.ts) and logs the outcome — never the token. Also answers GET /api/trust: the
 * roots and the name the server's certificate carries, which the web client pins for its handshake.
 *
 * Off unless the operator turns it on (`serve --enrolment`) and the server holds the issuing key
 * (the intermediate's if the CA has one).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import { ParsedCert } from '../pki/cert.js';
import type { IssuingCa } from '../pki/ca-store.js';
import { canonicalIpText } from '../pki/dns-syntax.js';
import { enrolWithToken } from '../pki/enrol.js';
import { tokenIdOf } from '../pki/enrol-tokens.js';
import { readPemCertificates, toPem } from '../pki/pem.js';
import { parseEnrolRequest, type EnrolResponse, type TrustResponse } from '../protocol/enrol-wire.js';
import { KeyedRateLimiter } from './keyed-rate.js';

export interface EnrolLimits {
  /** POST /api/enrol per client address per minute (also the burst). */
  perIpPerMinute: number;
  /** POST /api/enrol per minute over all addresses (also the burst). */
  perMinute: number;
  /** Signings in progress at once; more get `busy`. */
  maxConcurrent: number;
  /** Client addresses whose rate is remembered (least recently seen forgotten first). */
  maxTrackedIps: number;
}

export const DEFAULT_ENROL_LIMITS: EnrolLimits = { perIpPerMinute: 10, perMinute: 60, maxConcurrent: 4, maxTrackedIps: 10_000 };

export interface EnrolmentOptions {
  /** The CA directory the server runs from (root_ca.pem, server_cert.pem). */
  certsDir: string;
  /** The issuing CA, loaded with its key; absent = enrolment disabled. */
  ca?: IssuingCa;
  limits?: Partial<EnrolLimits>;
  log: Logger;
  now?: () => Date;
}

/** The first subjectAltName of a certificate (what a client must dial), else its CN. */
export function serverNameOf(certDer: Buffer): string {
  const cert = ParsedCert.fromDer(certDer);
  for (const san of cert.subjectAltNames) {
    if (san.type === 'dns') return san.value;
    if (san.type === 'ip') return canonicalIpText(san.bytes) ?? '';
  }
  return cert.commonName ?? '';
}

export class EnrolmentService {
  readonly limits: EnrolLimits;
  private readonly rate: KeyedRateLimiter;
  private inFlight = 0;
  private trustInfo: TrustResponse;
  private readonly now: () => Date;

  constructor(private readonly options: EnrolmentOptions) {
    this.limits = { ...DEFAULT_ENROL_LIMITS, ...options.limits };
    this.rate = new KeyedRateLimiter({ perKeyPerMinute: this.limits.perIpPerMinute, globalPerMinute: this.limits.perMinute, maxKeys: this.limits.maxTrackedIps });
    this.now = options.now ?? (() => new Date());
    this.trustInfo = this.readTrust();
  }

  get enabled(): boolean {
    return this.options.ca !== undefined;
  }

  trust(): TrustResponse {
    return this.trustInfo;
  }

  /** SIGHUP: the server certificate (and so its name) may have been renewed. Keeps the old on failure. */
  reloadTrust(): boolean {
    try {
      this.trustInfo = this.readTrust();
      return true;
    } catch {
      return false;
    }
  }

  private readTrust(): TrustResponse {
    const dir = this.options.certsDir;
    const roots = readPemCertificates(readFileSync(join(dir, 'root_ca.pem'), 'utf8')).map((der) => toPem(der, 'CERTIFICATE'));
    const serverCert = readPemCertificates(readFileSync(join(dir, 'server_cert.pem'), 'utf8'))[0];
    return { roots, serverName: serverNameOf(serverCert) };
  }

  /**
   * Before the body is read: refuses at once when enrolment is off or the address (or everyone)
   * is over its rate, so a refused client costs no parsing.
   */
  admit(ip: string): void {
    if (!this.enabled) throw new SecureChatError('enrol_disabled');
    const admission = this.rate.take(ip);
    if (!admission.ok) {
      this.options.log.warn('enrolment refused', { code: 'rate_limited', ip });
      throw new SecureChatError('rate_limited', `Too many enrolment attempts; retry in ${Math.ceil(admission.retryAfterMs / 1000)} s.`, {
        details: { retryAfterMs: admission.retryAfterMs },
      });
    }
  }

  /** The parsed JSON body of an admitted request → the issued certificate, or a typed failure. */
  async enrol(body: unknown, ip: string): Promise<EnrolResponse> {
    const ca = this.options.ca;
    if (!ca) throw new SecureChatError('enrol_disabled');
    const request = parseEnrolRequest(body);
    // The id part of a well-formed token is not secret; the token itself never reaches a log.
    const tokenId = tokenIdOf(request.token);
    if (this.inFlight >= this.limits.maxConcurrent) throw new SecureChatError('busy', 'The server is signing other enrolment requests; retry in a few seconds.');
    this.inFlight++;
    try {
      const result = await enrolWithToken(ca, { token: request.token, csrPem: request.csr }, this.now());
      this.options.log.info('enrolment: issued a client certificate', { user: result.name, serial: result.serial, tokenId, ip, notAfter: result.notAfter.toISOString() });
      return { certificate: result.certificatePem, chain: result.chainPems, roots: result.rootPems };
    } catch (err) {
      const code = err instanceof SecureChatError ? err.code : 'internal';
      if (code === 'internal' || code === 'io_error') this.options.log.error('enrolment failed', { code, ip, ...(tokenId ? { tokenId } : {}), error: String(err) });
      else this.options.log.warn('enrolment refused', { code, ip, ...(tokenId ? { tokenId } : {}) });
      throw err;
    } finally {
      this.inFlight--;
    }
  }
}
