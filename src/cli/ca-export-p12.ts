import type { Command } from 'commander';
import { readSecretFile } from '../pki/files.js';
import { exportPkcs12 } from '../pki/p12-files.js';
import { action } from './run.js';
import { addJsonOption, emit, example } from './ca-options.js';

interface ExportOptions {
  key: string;
  out: string;
  passwordFile: string;
  keyPassphraseFile?: string;
  name?: string;
  force?: boolean;
  json?: boolean;
}

export function registerCaExportP12(ca: Command): void {
  const cmd = ca
    .command('export-p12 <cert>')
    .description('bundle a certificate chain and its key into a password-protected PKCS#12 (.p12) file')
    .requiredOption('--key <file>', 'the private key of the first certificate')
    .requiredOption('--out <file>', 'the .p12 file to write (mode 0600)')
    .requiredOption('--password-file <file>', 'file whose first line is the .p12 password')
    .option('--key-passphrase-file <file>', 'passphrase of an encrypted key file')
    .option('--name <friendly-name>', 'friendly name shown by importers')
    .option('--force', 'overwrite an existing output file');
  addJsonOption(cmd);
  example(cmd, 'securechat ca export-p12 certs/alice_cert.pem --key certs/alice_key.pem --out alice.p12 --password-file p12.pass');
  cmd.action(
    action((cert: string, opts: ExportOptions) => {
      const result = exportPkcs12({
        certPath: cert,
        keyPath: opts.key,
        outPath: opts.out,
        password: readSecretFile(opts.passwordFile, 'password file'),
        ...(opts.keyPassphraseFile ? { keyPassphrase: readSecretFile(opts.keyPassphraseFile) } : {}),
        ...(opts.name ? { friendlyName: opts.name } : {}),
        force: Boolean(opts.force),
      });
      emit(opts.json, result, `Wrote ${result.outPath} (${result.certificates} certificate(s) and the key; AES-256, HMAC-SHA256).`);
    }),
  );
}
