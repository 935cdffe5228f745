import type { Command } from 'commander';
import { EXPIRY_WARNING_DAYS, listCa, type AuthorityListing, type CertificateListing } from '../pki/ca-list.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, emit, example, type DirOptions } from './ca-options.js';

export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

function stateText(s: { state: string; daysLeft: number; revokedAt?: string; reason?: string }): string {
  switch (s.state) {
    case 'revoked':
      return `revoked ${s.revokedAt?.slice(0, 10) ?? ''} ${s.reason ?? ''}`.trim();
    case 'expiring':
      return `EXPIRES in ${s.daysLeft}d`;
    case 'not_yet_valid':
      return 'not yet valid';
    default:
      return s.state;
  }
}

function keyText(a: AuthorityListing): string {
  if (!a.key) return 'key not here (offline)';
  if (!a.key.encrypted) return 'key NOT ENCRYPTED (development CA)';
  return `key encrypted: ${a.key.scheme}${a.key.strong ? '' : ' (WEAK: run ca change-passphrase)'}`;
}

const notAfterText = (iso: string): string => iso.slice(0, 19) + 'Z';

function humanListing(dir: string, authorities: AuthorityListing[], certificates: CertificateListing[]): string {
  const caRows = [['ROLE', 'SERIAL', 'SUBJECT', 'NOT AFTER', 'STATUS', 'KEY'], ...authorities.map((a) => [a.role, a.serial, a.subject, notAfterText(a.notAfter), stateText(a), keyText(a)])];
  const certRows = [
    ['SERIAL', 'KIND', 'SUBJECT', 'NOT AFTER', 'STATUS', 'SANS'],
    ...certificates.map((e) => [e.serial, e.kind, e.subject, notAfterText(e.notAfter), stateText(e), e.sans.join(',')]),
  ];
  const issued = certificates.length === 0 ? `No certificates issued yet by the CA in ${dir}.` : formatTable(certRows);
  const expiring = [...authorities, ...certificates].filter((c) => c.state === 'expiring').length;
  const footer = expiring > 0 ? `\n\n${expiring} certificate(s) expire within ${EXPIRY_WARNING_DAYS} days: renew them with \`securechat ca renew CERT --dir ${dir}\`.` : '';
  return `Certificate authorities in ${dir}:\n${formatTable(caRows)}\n\nIssued certificates:\n${issued}${footer}`;
}

export function registerCaList(ca: Command): void {
  const cmd = ca
    .command('list')
    .description(`list the root and intermediate CA and every certificate issued; flags what expires within ${EXPIRY_WARNING_DAYS} days and unencrypted CA keys`);
  addDirOption(cmd);
  addJsonOption(cmd);
  example(cmd, 'securechat ca list --dir certs', 'securechat ca list --dir certs --json');
  cmd.action(
    action((opts: DirOptions) => {
      const listing = listCa(opts.dir);
      emit(
        opts.json,
        { ...listing, intermediate: listing.authorities.some((a) => a.role === 'intermediate') },
        humanListing(opts.dir, listing.authorities, listing.certificates),
      );
    }),
  );
}
