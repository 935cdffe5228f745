/**
 * `securechat help serve | head` used to die with an unhandled EPIPE (issue 9 §5): the reader has
 * gone, so the CLI must stop quietly. The pipe is closed before the child writes anything, which
 * makes the EPIPE certain rather than a race with `head`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { REPO_ROOT } from '../helpers/cli.js';

for (const args of [['help', 'serve'], ['--help'], ['ca', 'issue', '--help']]) {
  test(`securechat ${args.join(' ')} into a closed pipe exits quietly`, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.doesNotMatch(stderr, /EPIPE|Error/);
    assert.equal(code, 0, stderr);
  });
}
