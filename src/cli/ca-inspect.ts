import type { Command } from 'commander';
import { readInputText } from '../pki/files.js';
import { formatSummary, inspectPem } from '../pki/inspect.js';
import { action } from './run.js';
import { addJsonOption, emit, example } from './ca-options.js';

export function registerCaInspect(ca: Command): void {
  const cmd = ca.command('inspect <file>').description('summarise the certificates, CSR or CRL in a PEM file');
  addJsonOption(cmd);
  example(cmd, 'securechat ca inspect certs/server_cert.pem', 'securechat ca inspect certs/crl.pem --json');
  cmd.action(
    action(async (file: string, opts: { json?: boolean }) => {
      const items = await inspectPem(readInputText(file));
      emit(opts.json, { file, items }, items.map(formatSummary).join('\n\n'));
    }),
  );
}
