/** Options and output shared by the `ca` subcommands. */
import { Option, type Command } from 'commander';
import { KEY_TYPES, type KeyType } from '../pki/keys.js';
import { readSecretFile } from '../pki/files.js';

export interface DirOptions {
  dir: string;
  json?: boolean;
}

export interface PassphraseOptions {
  passphraseFile?: string;
}

export function addDirOption(cmd: Command): Command {
  return cmd.option('--dir <dir>', 'CA directory', 'certs');
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print the result as JSON');
}

export function addPassphraseOption(cmd: Command, what = 'decrypts the CA keys'): Command {
  return cmd.option('--passphrase-file <file>', `file whose first line ${what}`);
}

export function keyTypeOption(): Option {
  return new Option('--key-type <type>', 'key type').choices([...KEY_TYPES]);
}

/** The passphrase, if a file was given: spread into pki options (`...passphraseFrom(opts)`). */
export function passphraseFrom(opts: PassphraseOptions): { passphrase?: string } {
  return opts.passphraseFile ? { passphrase: readSecretFile(opts.passphraseFile) } : {};
}

export type { KeyType };

export function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
}

/** One place decides between the human text and the JSON document (`{"ok":true,…}`). */
export function emit(json: boolean | undefined, data: Record<string, unknown>, human: string): void {
  process.stdout.write(json ? JSON.stringify({ ok: true, ...data }) + '\n' : human + '\n');
}
