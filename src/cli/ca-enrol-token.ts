/** `securechat ca enrol-token NAME`: a one-time token for a server to sign NAME's CSR (docs/WEB.md); also --list and --revoke. */
import type { Command } from 'commander';
import { SecureChatError } from '../errors.js';
import { createEnrolToken, DEFAULT_ENROL_CERT_VALIDITY, DEFAULT_TOKEN_TTL, listEnrolTokens, revokeEnrolToken, type TokenInfo } from '../pki/enrol-tokens.js';
import { action } from './run.js';
import { addDirOption, addJsonOption, emit, example, type DirOptions } from './ca-options.js';

interface EnrolTokenOptions extends DirOptions {
  ttl?: string;
  notAfter?: string;
  list?: boolean;
  revoke?: string;
}

function line(t: TokenInfo): string {
  const when = t.status === 'used' ? `used ${t.usedAt} (serial ${t.serial ?? '?'})` : t.status === 'revoked' ? `revoked ${t.revokedAt}` : `${t.status === 'valid' ? 'expires' : 'expired'} ${t.expiresAt}`;
  return `${t.id}  ${t.name.padEnd(16)} ${t.status.padEnd(8)} ${when}`;
}

export function registerCaEnrolToken(ca: Command): void {
  const cmd = ca
    .command('enrol-token [name]')
    .description('make a one-time token with which NAME gets a client certificate from a server running with --enrolment (the token is printed once and stored only as a hash)');
  addDirOption(cmd);
  cmd
    .option('--ttl <duration>', `how long the token may be used: 30m, 1h, 2d (default ${DEFAULT_TOKEN_TTL}, at most 7d)`)
    .option('--not-after <when>', `expiry of the certificate it buys: a duration or an ISO date (default ${DEFAULT_ENROL_CERT_VALIDITY})`)
    .option('--list', 'list the tokens of DIR (never their text) and exit')
    .option('--revoke <id>', 'withdraw the unused token with this id');
  addJsonOption(cmd);
  example(
    cmd,
    'securechat ca enrol-token alice --dir certs --ttl 1h',
    'securechat ca enrol-token --list --dir certs',
    'securechat ca enrol-token --revoke 3f9c2a61d0e4b857 --dir certs',
  );
  cmd.action(
    action(async (name: string | undefined, opts: EnrolTokenOptions) => {
      const modes = [name !== undefined, Boolean(opts.list), opts.revoke !== undefined].filter(Boolean).length;
      if (modes !== 1) throw new SecureChatError('usage', 'Give exactly one of NAME (make a token), --list or --revoke ID.');
      if (opts.list) {
        const tokens = listEnrolTokens(opts.dir);
        emit(opts.json, { tokens }, tokens.length ? tokens.map(line).join('\n') : `No enrolment tokens in ${opts.dir}.`);
        return;
      }
      if (opts.revoke !== undefined) {
        const t = revokeEnrolToken(opts.dir, opts.revoke);
        emit(opts.json, { token: t }, `Revoked enrolment token ${t.id} for ${t.name}.`);
        return;
      }
      const t = createEnrolToken({ dir: opts.dir, name: name as string, ...(opts.ttl ? { ttl: opts.ttl } : {}), ...(opts.notAfter ? { certValidity: opts.notAfter } : {}) });
      const human = [
        `Enrolment token for ${t.name} (id ${t.id}), single use, valid until ${t.expiresAt}:`,
        '',
        `  ${t.token}`,
        '',
        'It is shown only this once. Give it to that user over a channel you trust; they paste it into the web',
        `client's enrolment page, and a server running with --enrolment on this CA signs one certificate for CN=${t.name}.`,
      ].join('\n');
      emit(opts.json, { ...t }, human);
    }),
  );
}
