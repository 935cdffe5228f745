/** Every `ca` subcommand's --help ends with a runnable example (checked in-process: no child needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerCa } from '../../src/cli/ca.js';

function leaves(cmd: Command): Command[] {
  return cmd.commands.length === 0 ? [cmd] : [cmd, ...cmd.commands.flatMap(leaves)];
}

test('every ca subcommand documents an example in --help', () => {
  const program = new Command('securechat');
  registerCa(program);
  const ca = program.commands.find((c) => c.name() === 'ca');
  assert.ok(ca);
  const names = leaves(ca).map((c) => c.name());
  for (const expected of ['init', 'issue', 'server', 'client', 'renew', 'revoke', 'crl', 'list', 'change-passphrase', 'inspect', 'export-p12', 'import-p12']) assert.ok(names.includes(expected), expected);
  for (const cmd of leaves(ca)) {
    if (cmd.name() === 'verify') continue; // owned and tested by the validator's suite
    let out = '';
    cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
    cmd.outputHelp();
    assert.match(out, /\nExamples?:\n {2}\$ securechat ca /, `${cmd.name()} --help has no example`);
  }
});
