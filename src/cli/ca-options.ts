/** Options and output shared by the `ca` subcommands. */
import { Option, type Command } from 'commander';
import { KEY_TYPES, type KeyType } from '../pki/keys.js';
import { SecureChatError } from '../errors.js';
import { promptHidden } from '../client/prompt.js';
import type { PassphraseSource } from '../pki/ca-store.js';
import { readSecretFile } from '../pki/files.js';

export interface DirOptions {
  dir: string;
  json?: boolean;
}

export interface PassphraseOptions {
  passphraseFile?: string;
}

/** `ca init`: commander turns `--no-passphrase` into `passphrase: false`. */
export interface NewPassphraseOptions extends PassphraseOptions {
  passphrase?: boolean;
}

export function addDirOption(cmd: Command): Command {
  return cmd.option('--dir <dir>', 'CA directory', 'certs');
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print the result as JSON');
}

export function addPassphraseOption(cmd: Command, what = 'decrypts the CA keys (default: asked on a terminal, if the keys are encrypted)'): Command {
  return cmd.option('--passphrase-file <file>', `file whose first line ${what}`);
}

export function keyTypeOption(): Option {
  return new Option('--key-type <type>', 'key type').choices([...KEY_TYPES]);
}

const stdinIsTerminal = (): boolean => Boolean(process.stdin.isTTY);

/**
 * Where the CA key's passphrase comes from when a command reads the key: the file, or a hidden
 * prompt on a terminal (asked only if the key turns out to be encrypted). Without either the pki
 * layer fails with bad_passphrase, naming --passphrase-file. Spread into pki options.
 */
export function passphraseFrom(opts: PassphraseOptions): { passphrase?: PassphraseSource } {
  if (opts.passphraseFile) return { passphrase: readSecretFile(opts.passphraseFile) };
  return stdinIsTerminal() ? { passphrase: () => promptHidden('CA key passphrase: ') } : {};
}

/**
 * `ca init`: encrypted unless --no-passphrase; the passphrase from --passphrase-file or typed twice
 * on a terminal. With neither and no terminal there is nobody to ask: a usage error (exit 2).
 */
export function newPassphraseFrom(opts: NewPassphraseOptions): { passphrase?: PassphraseSource; unencrypted?: true } {
  const noPassphrase = opts.passphrase === false;
  if (noPassphrase && opts.passphraseFile) throw new SecureChatError('usage', '--passphrase-file and --no-passphrase contradict each other; give one.');
  if (noPassphrase) return { unencrypted: true };
  return { passphrase: newPassphraseSource(opts.passphraseFile, '--passphrase-file FILE, or --no-passphrase for an unencrypted development CA') };
}

/** A new passphrase: from the file, or typed twice on a terminal; with neither, a usage error naming `alternatives`. */
export function newPassphraseSource(file: string | undefined, alternatives: string): PassphraseSource {
  if (file) return readSecretFile(file);
  if (!stdinIsTerminal()) {
    throw new SecureChatError('usage', `The CA keys are encrypted by default and stdin is not a terminal to ask on: pass ${alternatives}.`);
  }
  return async () => {
    const first = await promptHidden('New CA key passphrase: ');
    if ((await promptHidden('Repeat the passphrase: ')) !== first) throw new SecureChatError('usage', 'The two passphrases differ; nothing was written.');
    return first;
  };
}

export type { KeyType };

export function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
}

/** One place decides between the human text and the JSON document (`{"ok":true,…}`). */
export function emit(json: boolean | undefined, data: Record<string, unknown>, human: string): void {
  process.stdout.write(json ? JSON.stringify({ ok: true, ...data }) + '\n' : human + '\n');
}
