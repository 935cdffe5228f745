import type { Command } from 'commander';
import { changeCaPassphrase } from '../pki/ca.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, addPassphraseOption, emit, example, newPassphraseSource, passphraseFrom, type DirOptions, type PassphraseOptions } from './ca-options.js';

interface ChangeOptions extends DirOptions, PassphraseOptions {
  newPassphraseFile?: string;
}

export function registerCaChangePassphrase(ca: Command): void {
  const cmd = ca
    .command('change-passphrase')
    .description('re-encrypt the CA keys under a new passphrase, or encrypt a development CA\'s plaintext keys');
  addDirOption(cmd);
  addPassphraseOption(cmd, 'is the current passphrase (default: asked on a terminal, if the keys are encrypted)');
  cmd.option('--new-passphrase-file <file>', 'file whose first line is the new passphrase (default: asked twice on a terminal)');
  addJsonOption(cmd);
  example(
    cmd,
    'securechat ca change-passphrase --dir certs --new-passphrase-file new.pass     # encrypt a development CA',
    'securechat ca change-passphrase --dir certs --passphrase-file old.pass --new-passphrase-file new.pass',
  );
  cmd.action(
    action(async (opts: ChangeOptions) => {
      const newPassphrase = newPassphraseSource(opts.newPassphraseFile, '--new-passphrase-file FILE');
      const r = await changeCaPassphrase({ dir: opts.dir, newPassphrase, ...passphraseFrom(opts) });
      emit(opts.json, r, `Re-encrypted ${r.files.join(', ')} (scrypt, AES-256-CBC).`);
    }),
  );
}
