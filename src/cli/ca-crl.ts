import type { Command } from 'commander';
import { writeCrl } from '../pki/ca.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, addPassphraseOption, emit, example, passphraseFrom, type DirOptions, type PassphraseOptions } from './ca-options.js';

interface CrlCliOptions extends DirOptions, PassphraseOptions {
  nextUpdate: string;
}

export function registerCaCrl(ca: Command): void {
  const cmd = ca.command('crl').description('sign and write a fresh DIR/crl.pem (with an intermediate: its CRL, then the root CRL)');
  addDirOption(cmd).option('--next-update <when>', 'when the CRL goes stale: a duration (7d) or an ISO date', '7d');
  addPassphraseOption(cmd);
  addJsonOption(cmd);
  example(cmd, 'securechat ca crl --dir certs --next-update 7d');
  cmd.action(
    action(async (opts: CrlCliOptions) => {
      const r = await writeCrl({ dir: opts.dir, nextUpdate: opts.nextUpdate, ...passphraseFrom(opts) });
      emit(
        opts.json,
        { ...r, nextUpdate: r.nextUpdate.toISOString() },
        `CRL #${r.crlNumber} (${r.revokedCount} revoked) written to ${r.crlPath}, next update ${r.nextUpdate.toISOString()}.`,
      );
    }),
  );
}
