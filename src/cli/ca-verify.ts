/** `securechat ca verify`: runs the strict validator on PEM files and prints the path or the reason. */
import { Option, type Command } from 'commander';
import { SecureChatError } from '../errors.js';
import { readInputText } from '../pki/files.js';
import { describeReason, parseCertificatesPem, parseCrlsPem, verifyChain, type Purpose } from '../pki/verify.js';
import { action } from './run.js';
import { addJsonOption, emit, example } from './ca-options.js';

interface VerifyCliOptions {
  roots: string;
  untrusted?: string;
  crl: string[];
  at?: string;
  purpose: Purpose;
  hostname?: string;
  json?: boolean;
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
    .option('--hostname <name>', 'DNS name or IP literal the certificate must carry as a subjectAltName');
  addJsonOption(cmd);
  example(
    cmd,
    'securechat ca verify certs/server_cert.pem --roots certs/root_ca.pem --crl certs/crl.pem --purpose server --hostname localhost',
    'securechat ca verify alice_cert.pem --roots certs/root_ca.pem --purpose client --at 2030-01-01T00:00:00Z --json',
  );
  cmd.addHelpText('after', '\nExit status: 0 valid, 1 invalid (reason and certificate printed), 2 usage error or unreadable input.');
  cmd.action(
    action((certFile: string, opts: VerifyCliOptions) => {
      const time = opts.at !== undefined ? parseVerifyTime(opts.at) : new Date();
      const [leaf, ...bundled] = parseCertificatesPem(readInputText(certFile, 'certificate file'));
      const roots = parseCertificatesPem(readInputText(opts.roots, 'roots file'));
      const untrusted = opts.untrusted ? parseCertificatesPem(readInputText(opts.untrusted, 'untrusted file')) : [];
      const crls = opts.crl.flatMap((file) => parseCrlsPem(readInputText(file, 'CRL file')));
      const result = verifyChain(leaf, {
        roots,
        intermediates: [...bundled, ...untrusted],
        ...(opts.crl.length > 0 ? { crls } : {}),
        time,
        purpose: opts.purpose,
        ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
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
