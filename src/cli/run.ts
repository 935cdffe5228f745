/**
 * Shared CLI plumbing: turns a thrown error into a message and an exit code (0 ok, 1 failure,
 * 2 usage), in one place, so that every command reports errors the same way.
 */
import { SecureChatError, toSecureChatError } from '../errors.js';

export function printError(err: SecureChatError, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ok: false, error: err.toJSON() }) + '\n');
  } else {
    const reason = err.reason ? ` (${err.reason})` : '';
    process.stderr.write(`error: ${err.code}${reason}: ${err.message}\n`);
  }
}

/**
 * Wraps a commander action: runs it, and on failure prints the error and sets the exit code.
 * Errors that are not SecureChatError are reported as `internal` with their message, because a
 * CLI user needs to see what went wrong.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (err) {
      const scErr = err instanceof SecureChatError ? err : toSecureChatError(err);
      if (!(err instanceof SecureChatError) && err instanceof Error) {
        (scErr as { message: string }).message = err.message;
      }
      const opts = args.find((a) => a !== null && typeof a === 'object' && !Array.isArray(a)) as { json?: boolean } | undefined;
      printError(scErr, Boolean(opts?.json));
      process.exitCode = scErr.exitCode;
    }
  };
}
