/**
 * Shared CLI plumbing: turns a thrown error into a message and an exit code (0 ok, 1 failure,
 * 2 usage), in one place, so that every command reports errors the same way.
 */
import { SecureChatError, toSecureChatError } from '../errors.js';

/**
 * `securechat help serve | head`: once the reader has gone, a write fails with EPIPE, which Node
 * raises as an unhandled 'error' event (a stack trace and exit 1). A closed pipe means nobody wants
 * the rest of the output: stop quietly, as a C program killed by SIGPIPE would, with the exit code
 * decided so far. Other stream errors still surface.
 */
export function guardStdioPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    });
  }
}

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
