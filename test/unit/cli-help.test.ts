import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';

function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

function* walk(cmd: Command, path: string[] = []): Generator<[string, Command]> {
  for (const sub of cmd.commands) {
    const here = [...path, sub.name()];
    yield [here.join(' '), sub];
    yield* walk(sub, here);
  }
}

test('every command and subcommand shows an example in --help', async () => {
  const program = await buildProgram();
  assert.match(helpOf(program), /Example/);
  const names: string[] = [];
  for (const [name, cmd] of walk(program)) {
    names.push(name);
    assert.match(helpOf(cmd), /Examples?:[\s\S]*securechat /, `"securechat ${name} --help" has no example`);
  }
  for (const expected of ['ca init', 'ca issue', 'ca verify', 'serve', 'chat', 'user list', 'db migrate', 'status']) {
    assert.ok(names.some((n) => n.startsWith(expected)), `missing command ${expected}`);
  }
});
