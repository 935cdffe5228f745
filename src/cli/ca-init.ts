import type { Command } from 'commander';
import { initCa } from '../pki/ca.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, addPassphraseOption, emit, example, keyTypeOption, passphraseFrom, type DirOptions, type KeyType, type PassphraseOptions } from './ca-options.js';

interface InitOptions extends DirOptions, PassphraseOptions {
  keyType: KeyType;
  intermediate?: boolean;
  name?: string;
  force?: boolean;
}

export function registerCaInit(ca: Command): void {
  const cmd = ca.command('init').description('create a root CA (and optionally an intermediate) in a directory');
  addDirOption(cmd)
    .addOption(keyTypeOption().default('p256'))
    .option('--intermediate', 'also create an intermediate CA that signs every leaf')
    .option('--name <cn>', 'common name of the root CA', 'SecureChat Root CA');
  addPassphraseOption(cmd, 'encrypts the CA keys');
  cmd.option('--force', 'replace an existing CA in the directory');
  addJsonOption(cmd);
  example(cmd, 'securechat ca init --dir certs', 'securechat ca init --dir certs --intermediate --key-type p384 --passphrase-file ca.pass');
  cmd.action(
    action(async (opts: InitOptions) => {
      const result = await initCa({
        dir: opts.dir,
        keyType: opts.keyType,
        intermediate: Boolean(opts.intermediate),
        force: Boolean(opts.force),
        ...(opts.name ? { name: opts.name } : {}),
        ...passphraseFrom(opts),
      });
      emit(opts.json, { ...result }, `Created a ${result.keyType} CA${result.intermediateSerial ? ' with an intermediate' : ''} in ${result.dir}:\n  ${result.files.join('\n  ')}`);
    }),
  );
}
