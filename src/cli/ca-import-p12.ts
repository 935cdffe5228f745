import type { Command } from 'commander';
import { readSecretFile } from '../pki/files.js';
import { importPkcs12 } from '../pki/p12-files.js';
import { action } from './run.js';
import { addJsonOption, emit, example } from './ca-options.js';

interface ImportOptions {
  outCert: string;
  outKey: string;
  passwordFile: string;
  keyPassphraseFile?: string;
  force?: boolean;
  json?: boolean;
}

export function registerCaImportP12(ca: Command): void {
  const cmd = ca
    .command('import-p12 <file>')
    .description('unpack a PKCS#12 (.p12/.pfx) file, ours or openssl\'s (also -legacy), into a PEM certificate chain and key')
    .requiredOption('--out-cert <file>', 'PEM chain to write, the key\'s certificate first')
    .requiredOption('--out-key <file>', 'PEM private key to write (mode 0600)')
    .requiredOption('--password-file <file>', 'file whose first line is the .p12 password')
    .option('--key-passphrase-file <file>', 'encrypt the written key with this passphrase (scrypt)')
    .option('--force', 'overwrite existing output files');
  addJsonOption(cmd);
  example(cmd, 'securechat ca import-p12 alice.p12 --out-cert alice_cert.pem --out-key alice_key.pem --password-file p12.pass');
  cmd.action(
    action((file: string, opts: ImportOptions) => {
      const r = importPkcs12({
        p12Path: file,
        password: readSecretFile(opts.passwordFile, 'password file'),
        certOut: opts.outCert,
        keyOut: opts.outKey,
        ...(opts.keyPassphraseFile ? { keyPassphrase: readSecretFile(opts.keyPassphraseFile) } : {}),
        force: Boolean(opts.force),
      });
      emit(opts.json, { ...r }, `Imported ${r.subject} (${r.certificates} certificate(s), MAC ${r.mac}):\n  certificate: ${r.certPath}\n  key:         ${r.keyPath} (mode 0600)`);
    }),
  );
}
