/**
 * Hidden terminal input (passwords). readline echoes through its output stream, so we give it a
 * stream we can mute after the question is shown: what is typed never reaches the screen.
 */
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { SecureChatError } from '../errors.js';

export interface MutableOutput {
  stream: Writable;
  muted: boolean;
}

/** A Writable that forwards to `target` unless muted, and reports the terminal width to readline. */
export function mutableOutput(target: NodeJS.WriteStream): MutableOutput {
  const state: MutableOutput = {
    muted: false,
    stream: new Writable({
      write(chunk, _enc, cb) {
        if (!state.muted) target.write(chunk);
        cb();
      },
    }),
  };
  Object.defineProperty(state.stream, 'columns', { get: () => target.columns });
  Object.defineProperty(state.stream, 'isTTY', { get: () => target.isTTY });
  target.on('resize', () => state.stream.emit('resize'));
  return state;
}

/** Asks on an existing readline whose output is `out`, with echo off for the answer. */
export function askHidden(rl: Interface, out: MutableOutput, question: string, echoTo: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      out.muted = false;
      echoTo.write('\n');
      resolve(answer);
    });
    out.muted = true;
  });
}

/** A one-off hidden prompt on the terminal (before the REPL exists). */
export async function promptHidden(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (!input.isTTY) throw new SecureChatError('usage', 'No terminal to ask for the password; use --password-file or SECURECHAT_PASSWORD.');
  const out = mutableOutput(output);
  const rl = createInterface({ input, output: out.stream, terminal: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.on('SIGINT', () => reject(new SecureChatError('usage', 'Cancelled.')));
      askHidden(rl, out, question, output).then(resolve, reject);
    });
  } finally {
    rl.close();
  }
}

export interface SilencedTerminal {
  /** Stops discarding input (before a prompt reads it). */
  release(): void;
}

/**
 * Turns the terminal's echo off at once and throws away what is typed until `release()`, the way
 * ssh treats keys typed before its password prompt: they are neither shown nor used as the
 * password. Ctrl-C still works (exit 130).
 */
export function silenceTerminal(input: NodeJS.ReadStream = process.stdin): SilencedTerminal {
  if (!input.isTTY) return { release: () => undefined };
  input.setRawMode(true);
  const discard = (d: Buffer): void => {
    if (d.includes(3)) {
      input.setRawMode(false);
      process.exit(130);
    }
  };
  input.on('data', discard);
  input.resume();
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      input.off('data', discard);
      input.pause();
    },
  };
}
