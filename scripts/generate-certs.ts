/**
 * `npm run generate-certs [-- --out DIR] [--users alice,bob] [--server-name NAME] [--intermediate]`
 * The one-step PKI set-up; the same `ensureCertificates` runs on the server's first start.
 */
import { parseArgs } from 'node:util';
import { SecureChatError, toSecureChatError } from '../src/errors.js';
import { ensureCertificates, DEFAULT_USERS, UNENCRYPTED_WARNING } from '../src/pki/generate.js';
import { caKeyIsUnencrypted } from '../src/pki/ca-store.js';
import { parseKeyType } from '../src/pki/keys.js';
import { readSecretFile } from '../src/pki/files.js';
import type { PassphraseSource } from '../src/pki/ca-store.js';
import { promptHidden } from '../src/client/prompt.js';

const HELP = `Usage: npm run generate-certs -- [--out DIR] [--users alice,bob] [--server-name NAME[,NAME…]]
                              [--intermediate] [--key-type p256|p384|ed25519|rsa3072]
                              [--passphrase-file FILE | --no-passphrase]

Makes DIR (default certs/) a CA directory with root_ca.pem, server_cert.pem/server_key.pem,
client_cert.pem/client_key.pem, <user>_cert.pem/<user>_key.pem and crl.pem. Re-running keeps the
existing CA and every certificate that is still good, and issues only what is missing.

A new CA is encrypted with --passphrase-file; otherwise it is a development CA whose keys are NOT
encrypted (said here, and by the server at every start). An existing encrypted CA is opened with
--passphrase-file or, on a terminal, a hidden prompt.

Example:
  $ npm run generate-certs -- --out certs --users alice,bob,carol --server-name chat.example.com
  $ npm run generate-certs -- --out certs --passphrase-file ca.pass`;

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: 'string', default: 'certs' },
        users: { type: 'string', default: DEFAULT_USERS.join(',') },
        'server-name': { type: 'string', default: 'localhost' },
        intermediate: { type: 'boolean', default: false },
        'key-type': { type: 'string' },
        'passphrase-file': { type: 'string' },
        'no-passphrase': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    throw new SecureChatError('usage', (err as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return;
  }
  const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);
  if (values['no-passphrase'] && values['passphrase-file']) throw new SecureChatError('usage', '--passphrase-file and --no-passphrase contradict each other; give one.');
  const passphrase: PassphraseSource | undefined = values['passphrase-file']
    ? readSecretFile(values['passphrase-file'])
    : !values['no-passphrase'] && process.stdin.isTTY
      ? () => promptHidden('CA key passphrase: ')
      : undefined;
  const result = await ensureCertificates({
    dir: values.out,
    users: list(values.users),
    serverNames: list(values['server-name']),
    intermediate: values.intermediate,
    ...(values['key-type'] ? { keyType: parseKeyType(values['key-type']) } : {}),
    ...(passphrase !== undefined ? { passphrase } : {}),
    log: (line) => process.stdout.write(line + '\n'),
  });
  process.stdout.write(`Done: ${result.created.length} file(s) created, ${result.kept.length} kept, in ${values.out}.\n`);
  if (caKeyIsUnencrypted(values.out)) process.stdout.write(`WARNING: ${UNENCRYPTED_WARNING(values.out)}\n`);
}

try {
  await main();
} catch (err) {
  const e = toSecureChatError(err);
  process.stderr.write(`error: ${e.code}: ${err instanceof SecureChatError ? e.message : (err as Error).message}\n`);
  process.exitCode = e.exitCode;
}
