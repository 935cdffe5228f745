import type { Command } from 'commander';
import { renewCertificate } from '../pki/renew.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, addPassphraseOption, emit, example, keyTypeOption, passphraseFrom, type DirOptions, type KeyType, type PassphraseOptions } from './ca-options.js';

interface RenewCliOptions extends DirOptions, PassphraseOptions {
  notAfter?: string;
  newKey?: boolean;
  keyType?: KeyType;
  out?: string;
  keyOut?: string;
  force?: boolean;
}

export function registerCaRenew(ca: Command): void {
  const cmd = ca
    .command('renew <cert>')
    .description('re-issue a certificate of this CA: same subject and SANs, new validity; the same key unless --new-key');
  addDirOption(cmd)
    .option('--not-after <when>', 'expiry: a duration (90d, 1y) or an ISO date (default: the lifetime the old certificate had)')
    .option('--new-key', 'generate a new key pair (written to --key-out, default <name>_key.pem next to <name>_cert.pem)')
    .addOption(keyTypeOption())
    .option('--out <file>', 'certificate output (default: replace CERT; the old one stays in DIR/issued/)')
    .option('--key-out <file>', 'key output with --new-key')
    .option('--force', 'let --out / --key-out replace existing files');
  addPassphraseOption(cmd);
  addJsonOption(cmd);
  example(
    cmd,
    'securechat ca renew certs/server_cert.pem --dir certs',
    'securechat ca renew certs/alice_cert.pem --dir certs --new-key --not-after 90d',
  );
  cmd.action(
    action(async (cert: string, opts: RenewCliOptions) => {
      const r = await renewCertificate({
        dir: opts.dir,
        certPath: cert,
        ...(opts.notAfter ? { notAfter: opts.notAfter } : {}),
        newKey: Boolean(opts.newKey),
        ...(opts.keyType ? { keyType: opts.keyType } : {}),
        ...(opts.out ? { out: opts.out } : {}),
        ...(opts.keyOut ? { keyOut: opts.keyOut } : {}),
        force: Boolean(opts.force),
        ...passphraseFrom(opts),
      });
      const lines = [
        `Renewed ${r.subject}: serial ${r.previousSerial} -> ${r.serial}, valid until ${r.notAfter.toISOString()}`,
        ...(r.sans.length ? [`  SANs: ${r.sans.join(', ')}`] : []),
        `  certificate: ${r.certPath}`,
        r.keyPath ? `  new key:     ${r.keyPath} (mode 0600)` : '  key:         unchanged',
        `  The old certificate stays valid until it expires; revoke it with \`securechat ca revoke ${r.previousSerial.slice(0, 8)} --dir ${opts.dir}\` if it must stop working now.`,
      ];
      emit(opts.json, { ...r, notBefore: r.notBefore.toISOString(), notAfter: r.notAfter.toISOString() }, lines.join('\n'));
    }),
  );
}
