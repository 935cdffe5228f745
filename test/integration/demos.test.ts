/** The two demos are part of the product: they must keep passing, so the suite runs them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/cli.js';

function runScript(name: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', name)], { cwd: REPO_ROOT, timeout: 120_000 }, (err, stdout) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout });
    });
  });
}

test('npm run demo: every step of the story behaves', async () => {
  const { code, stdout } = await runScript('demo.ts');
  assert.equal(code, 0, stdout);
  assert.match(stdout, /Demo passed/);
  assert.equal((stdout.match(/✔/g) ?? []).length, 7, stdout);
  assert.doesNotMatch(stdout, /✘/);
});

test('npm run demo:bad-cert: eight cases, each refused by the right side for the right reason', async () => {
  const { code, stdout } = await runScript('demo-bad-cert.ts');
  assert.equal(code, 0, stdout);
  assert.match(stdout, /8\/8 cases behaved as expected/);
  for (const reason of ['untrusted', 'expired', 'revoked', 'key_mismatch', 'wrong_purpose']) {
    assert.match(stdout, new RegExp(`\\[Server\\] Certificate validation failed: ${reason}`));
    assert.match(stdout, new RegExp(`\\[Client\\] Server rejected certificate – closing connection \\(${reason}\\)`));
  }
  assert.match(stdout, /Refusing the server's certificate \(name_mismatch\)/);
});
