import type { Command } from 'commander';
import { REVOCATION_REASONS, revokeCertificate } from '../pki/ca.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, addPassphraseOption, emit, example, passphraseFrom, type DirOptions, type PassphraseOptions } from './ca-options.js';

interface RevokeCliOptions extends DirOptions, PassphraseOptions {
  reason?: string;
  nextUpdate?: string;
}

export function registerCaRevoke(ca: Command): void {
  const cmd = ca
    .command('revoke <cert-or-serial>')
    .description('revoke a certificate (by PEM file, hex serial, or a unique serial prefix of 4+ digits) and publish a fresh CRL');
  addDirOption(cmd)
    .option('--reason <reason>', `one of ${REVOCATION_REASONS.join(', ')}`, 'unspecified')
    .option('--next-update <when>', 'validity of the new CRL (default 7d)');
  addPassphraseOption(cmd);
  addJsonOption(cmd);
  example(cmd, 'securechat ca revoke certs/alice_cert.pem --dir certs --reason keyCompromise', 'securechat ca revoke 3f9a1c --dir certs   # serial prefix, as shown by ca list');
  cmd.action(
    action(async (target: string, opts: RevokeCliOptions) => {
      const r = await revokeCertificate({
        dir: opts.dir,
        target,
        ...(opts.reason ? { reason: opts.reason } : {}),
        ...(opts.nextUpdate ? { nextUpdate: opts.nextUpdate } : {}),
        ...passphraseFrom(opts),
      });
      emit(
        opts.json,
        { ...r, nextUpdate: r.nextUpdate.toISOString() },
        `Revoked ${r.subject} (serial ${r.serial}); CRL #${r.crlNumber} written to ${r.crlPath}, next update ${r.nextUpdate.toISOString()}.`,
      );
    }),
  );
}
