import type { Command } from 'commander';
import { issueCertificate } from '../pki/ca.js';
import { readInputText } from '../pki/files.js';
import type { LeafKind } from '../pki/profiles.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, addPassphraseOption, emit, example, keyTypeOption, passphraseFrom, type DirOptions, type KeyType, type PassphraseOptions } from './ca-options.js';

interface IssueCliOptions extends DirOptions, PassphraseOptions {
  san?: string[];
  notAfter?: string;
  keyType?: KeyType;
  csr?: string;
  out?: string;
  keyOut?: string;
  force?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').filter(Boolean)];

function leafCommand(issue: Command, kind: LeafKind): Command {
  const cmd = issue
    .command(`${kind} <${kind === 'server' ? 'name' : 'username'}>`)
    .description(
      kind === 'server'
        ? 'issue a server certificate (EKU serverAuth); NAME is its DNS name or IP and also a SAN'
        : 'issue a client certificate (EKU clientAuth) whose CN is the username',
    );
  addDirOption(cmd);
  if (kind === 'server') cmd.option('--san <name>', 'subject alternative name, DNS:x or IP:y (repeatable; default localhost, 127.0.0.1, ::1)', collect);
  cmd
    .option('--not-after <when>', `expiry: a duration (90d, 24h, 1y) or an ISO date (default ${kind === 'server' ? '1y' : '90d'})`)
    .addOption(keyTypeOption().default('p256'))
    .option('--csr <file>', 'sign this PKCS#10 request instead of generating a key')
    .option('--out <file>', 'certificate output (default DIR/<name>_cert.pem)')
    .option('--key-out <file>', 'key output (default DIR/<name>_key.pem)')
    .option('--force', 'overwrite existing output files; sign a --csr whose CN differs from the name given');
  addPassphraseOption(cmd);
  addJsonOption(cmd);
  return cmd.action(
    action(async (name: string, opts: IssueCliOptions) => {
      const result = await issueCertificate({
        dir: opts.dir,
        kind,
        name,
        ...(opts.san ? { sans: opts.san } : {}),
        ...(opts.notAfter ? { notAfter: opts.notAfter } : {}),
        ...(opts.keyType ? { keyType: opts.keyType } : {}),
        ...(opts.csr ? { csrPem: readInputText(opts.csr, 'CSR file') } : {}),
        ...(opts.out ? { certOut: opts.out } : {}),
        ...(opts.keyOut ? { keyOut: opts.keyOut } : {}),
        force: Boolean(opts.force),
        ...passphraseFrom(opts),
      });
      const { chainPem: _chain, keyPem: _key, ...summary } = result;
      const lines = [
        `Issued ${kind} certificate ${result.subject} serial ${result.serial}, valid until ${result.notAfter.toISOString()}`,
        ...(result.sans.length ? [`  SANs: ${result.sans.join(', ')}`] : []),
        `  certificate: ${result.certPath}`,
        ...(result.keyPath ? [`  key:         ${result.keyPath} (mode 0600)`] : []),
      ];
      emit(opts.json, { ...summary, notBefore: result.notBefore.toISOString(), notAfter: result.notAfter.toISOString() }, lines.join('\n'));
    }),
  );
}

export function registerCaIssue(ca: Command): void {
  const issue = ca.command('issue').description('issue a server or client certificate');
  example(
    leafCommand(issue, 'server'),
    'securechat ca issue server chat.example.com --dir certs --san DNS:chat.internal --san IP:10.0.0.5',
  );
  example(
    leafCommand(issue, 'client'),
    'securechat ca issue client alice --dir certs --not-after 30d',
    'securechat ca issue client bob --dir certs --csr bob.csr --out bob_cert.pem',
  );
  example(issue, 'securechat ca issue client alice --dir certs');
}
