import type { Command } from 'commander';
import { readCaIndex, type IndexEntry } from '../pki/ca.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, emit, example, type DirOptions } from './ca-options.js';

/** `expired` is derived at read time; the index only records what the CA decided. */
function displayStatus(e: IndexEntry, now: Date): string {
  if (e.status === 'revoked') return `revoked ${e.revokedAt?.slice(0, 10) ?? ''} ${e.reason ?? ''}`.trim();
  return new Date(e.notAfter) < now ? 'expired' : 'valid';
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export function registerCaList(ca: Command): void {
  const cmd = ca.command('list').description('list the certificates the CA has issued');
  addDirOption(cmd);
  addJsonOption(cmd);
  example(cmd, 'securechat ca list --dir certs --json');
  cmd.action(
    action((opts: DirOptions) => {
      const index = readCaIndex(opts.dir);
      const now = new Date();
      const rows = [
        ['SERIAL', 'KIND', 'SUBJECT', 'NOT AFTER', 'STATUS', 'SANS'],
        ...index.certificates.map((e) => [e.serial, e.kind, e.subject, e.notAfter.slice(0, 19) + 'Z', displayStatus(e, now), e.sans.join(',')]),
      ];
      const human = index.certificates.length === 0 ? `No certificates issued yet by the CA in ${opts.dir}.` : formatTable(rows);
      emit(opts.json, { keyType: index.keyType, intermediate: index.intermediate, certificates: index.certificates }, human);
    }),
  );
}
