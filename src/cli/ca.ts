/** The `ca` command group: one module per subcommand; this file only wires them. */
import type { Command } from 'commander';
import { registerCaInit } from './ca-init.js';
import { registerCaIssue } from './ca-issue.js';
import { registerCaRevoke } from './ca-revoke.js';
import { registerCaCrl } from './ca-crl.js';
import { registerCaList } from './ca-list.js';
import { registerCaInspect } from './ca-inspect.js';
import { registerCaExportP12 } from './ca-export-p12.js';
import { registerCaImportP12 } from './ca-import-p12.js';
import { registerCaRenew } from './ca-renew.js';
import { registerCaChangePassphrase } from './ca-change-passphrase.js';
import { registerCaVerify } from './ca-verify.js';
import { registerCaEnrolToken } from './ca-enrol-token.js';

export function registerCa(program: Command): void {
  const ca = program
    .command('ca')
    .description('certificate authority: init, issue, renew, revoke, crl, list, change-passphrase, inspect, export-p12, import-p12, verify, enrol-token')
    .addHelpText('after', '\nExample:\n  $ securechat ca init --dir certs --passphrase-file ca.pass && securechat ca issue server localhost --dir certs --passphrase-file ca.pass');
  registerCaInit(ca);
  registerCaIssue(ca);
  registerCaRenew(ca);
  registerCaRevoke(ca);
  registerCaCrl(ca);
  registerCaList(ca);
  registerCaChangePassphrase(ca);
  registerCaInspect(ca);
  registerCaExportP12(ca);
  registerCaImportP12(ca);
  registerCaVerify(ca);
  registerCaEnrolToken(ca);
}
