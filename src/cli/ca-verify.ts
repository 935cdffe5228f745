/** `securechat ca verify`: runs the strict validator on PEM files and prints the path or the reason. */
import { Option, type Command } from 'commander';
import { SecureChatError } from '../errors.js';
import { readInputText } from '../pki/files.js';
import { readPemCertificates } from '../pki/pem.js';
import { DEFAULT_MAX_INTERMEDIATES, ParsedCert, ParsedCrl, describeReason, parseCrlsPem, verifyChain, type Purpose } from '../pki/verify.js';
import { action } from './run.js';
import { addJsonOption, emit, example } from './ca-options.js';

interface VerifyCliOptions {
  roots: string;
  untrusted?: string;
  crl: string[];
  at?: string;
  purpose: Purpose;
  hostname?: string;
  maxDepth?: string;
  json?: boolean;
}

/** `--max-depth N`: most intermediate CAs between the leaf and the trust anchor. */
export function parseMaxDepth(text: string): number {
  if (!/^\d{1,3}$/.test(text)) throw new SecureChatError('usage', `--max-depth "${text}" is not a whole number (0-999).`);
  return Number(text);
}

function certificateFailure(reason: 'malformed' | 'bad_crl', certIndex: number, detail: string, cause: unknown): SecureChatError {
  return new SecureChatError('bad_certificate', `${describeReason(reason)}: ${detail}.`, { reason, details: { certIndex, subject: '', detail }, cause });
}

/**
 * The certificates of a PEM file. A file without any CERTIFICATE block is unusable input (exit 2);
 * a block that is there but does not decode is a certificate that fails validation (exit 1):
 * fatal when it is the leaf or an anchor, skipped when it is an untrusted helper.
 */
function readCertificates(text: string, what: string, onBad: (index: number, err: unknown) => void): ParsedCert[] {
  const out: ParsedCert[] = [];
  readPemCertificates(text).forEach((der, i) => {
    try {
      out.push(ParsedCert.fromDer(der));
    } catch (err) {
      onBad(i, err);
    }
  });
  if (out.length === 0) throw new SecureChatError('bad_input', `No usable certificate in the ${what}.`);
  return out;
}

function readCrls(text: string): ParsedCrl[] {
  // Revocation fails closed: a CRL we were given but cannot read is a failed validation.
  return parseCrlsPem(text, (i, err) => certificateFailure('bad_crl', -1, `CRL #${i + 1} is not a DER X.509 CRL`, err));
}

/** ISO-8601 or unix seconds. */
export function parseVerifyTime(text: string): Date {
  const date = /^\d+$/.test(text) ? new Date(Number(text) * 1000) : new Date(text);
  if (Number.isNaN(date.getTime())) throw new SecureChatError('usage', `--at "${text}" is neither ISO-8601 nor unix seconds.`);
  return date;
}

export function registerCaVerify(ca: Command): void {
  const cmd = ca
    .command('verify <cert>')
    .description('validate a certificate chain (first certificate in CERT is the leaf, the rest untrusted intermediates)')
    .requiredOption('--roots <file>', 'PEM file of trusted root certificates')
    .option('--untrusted <file>', 'PEM file of extra untrusted intermediates')
    .option('--crl <file>', 'PEM file of CRLs; repeatable. With CRLs the leaf must be covered by one', (v: string, prev: string[]) => [...prev, v], [])
    .option('--at <time>', 'validation time: ISO-8601 or unix seconds (default now)')
    .addOption(new Option('--purpose <purpose>', 'required extended key usage').choices(['server', 'client', 'any']).default('any'))
    .option('--hostname <name>', 'DNS name or IP literal the certificate must carry as a subjectAltName')
    .option('--max-depth <n>', `most intermediate CAs between the certificate and a root (default ${DEFAULT_MAX_INTERMEDIATES}); more is path_too_long`);
  addJsonOption(cmd);
  example(
    cmd,
    'securechat ca verify certs/server_cert.pem --roots certs/root_ca.pem --crl certs/crl.pem --purpose server --hostname localhost',
    'securechat ca verify alice_cert.pem --roots certs/root_ca.pem --purpose client --at 2030-01-01T00:00:00Z --json',
    'securechat ca verify chain.pem --roots certs/root_ca.pem --purpose server --hostname chat.example.com --max-depth 1',
  );
  cmd.addHelpText('after', '\nExit status: 0 valid, 1 invalid (reason and certificate printed), 2 usage error or unreadable input.');
  cmd.action(
    action((certFile: string, opts: VerifyCliOptions) => {
      const time = opts.at !== undefined ? parseVerifyTime(opts.at) : new Date();
      const maxIntermediates = opts.maxDepth !== undefined ? parseMaxDepth(opts.maxDepth) : undefined;
      const certText = readInputText(certFile, 'certificate file');
      const rootsText = readInputText(opts.roots, 'roots file');
      const untrustedText = opts.untrusted ? readInputText(opts.untrusted, 'untrusted file') : undefined;
      const crlTexts = opts.crl.map((file) => readInputText(file, 'CRL file'));
      const skip = (): void => undefined;
      const [leaf, ...bundled] = readCertificates(certText, 'certificate file', (i, err) => {
        if (i === 0) throw certificateFailure('malformed', 0, 'certificate 0 is not a DER X.509 certificate', err);
      });
      const roots = readCertificates(rootsText, 'roots file', (i, err) => {
        throw certificateFailure('malformed', -1, `trust anchor #${i + 1} is not a DER X.509 certificate`, err);
      });
      const untrusted = untrustedText !== undefined ? readCertificates(untrustedText, 'untrusted file', skip) : [];
      const crls = crlTexts.flatMap(readCrls);
      const result = verifyChain(leaf, {
        roots,
        intermediates: [...bundled, ...untrusted],
        ...(opts.crl.length > 0 ? { crls } : {}),
        time,
        purpose: opts.purpose,
        ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
        ...(maxIntermediates !== undefined ? { maxIntermediates } : {}),
      });
      if (!result.ok) {
        const where = result.certIndex >= 0 ? `certificate ${result.certIndex} (${result.subject})` : `chain of ${result.subject}`;
        throw new SecureChatError('bad_certificate', `${describeReason(result.reason)}: ${where}: ${result.detail}.`, {
          reason: result.reason,
          details: { certIndex: result.certIndex, subject: result.subject, detail: result.detail },
        });
      }
      const path = result.path.map((c) => ({ subject: c.subject, notAfter: c.notAfter.toISOString(), serial: c.serialHex, fingerprint256: c.fingerprint256 }));
      const human = [`OK: valid path at ${time.toISOString()} (purpose ${opts.purpose})`, ...path.map((c, i) => `  ${i}: ${c.subject}  (not after ${c.notAfter})`)];
      emit(opts.json, { time: time.toISOString(), purpose: opts.purpose, path }, human.join('\n'));
    }),
  );
}
