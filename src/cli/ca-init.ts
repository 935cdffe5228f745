import type { Command } from 'commander';
import { initCa } from '../pki/ca.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, emit, example, keyTypeOption, newPassphraseFrom, type DirOptions, type KeyType, type NewPassphraseOptions } from './ca-options.js';

interface InitOptions extends DirOptions, NewPassphraseOptions {
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
    .option('--name <cn>', 'common name of the root CA (default "SecureChat Root CA <random hex>", so two CAs never share a name)')
    .option('--passphrase-file <file>', 'file whose first line encrypts the CA keys (default: asked twice on a terminal)')
    .option('--no-passphrase', 'store the CA keys unencrypted (development only; the server warns at every start)')
    .option('--force', 'replace an existing CA in the directory');
  addJsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nThe CA keys are encrypted (PKCS#8, PBES2: scrypt N=2^14 r=8 p=5, AES-256-CBC; `openssl pkey -passin` opens them).\nWithout a terminal, give --passphrase-file or --no-passphrase (otherwise: exit 2).',
  );
  example(
    cmd,
    'securechat ca init --dir certs                       # asks for the passphrase twice',
    'securechat ca init --dir certs --intermediate --key-type p384 --passphrase-file ca.pass',
    'securechat ca init --dir dev-certs --no-passphrase   # unencrypted development CA',
  );
  cmd.action(
    action(async (opts: InitOptions) => {
      const result = await initCa({
        dir: opts.dir,
        keyType: opts.keyType,
        intermediate: Boolean(opts.intermediate),
        force: Boolean(opts.force),
        ...(opts.name ? { name: opts.name } : {}),
        ...newPassphraseFrom(opts),
      });
      const protection = result.encrypted ? 'keys encrypted' : 'keys NOT encrypted (development CA)';
      emit(
        opts.json,
        { ...result },
        `Created a ${result.keyType} CA "${result.rootName}"${result.intermediateName ? ` with intermediate "${result.intermediateName}"` : ''} in ${result.dir}, ${protection}:\n  ${result.files.join('\n  ')}`,
      );
    }),
  );
}
