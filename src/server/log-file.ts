/**
 * Reopening the JSON log file on SIGHUP, for log rotation (logrotate renames the file, then
 * signals). The new file is opened first: if that fails, the old transport stays and the failure
 * is logged to it, so no line is lost to a bad path or a missing directory.
 */
import { closeSync, openSync } from 'node:fs';
import winston from 'winston';
import { jsonFileTransport, type Logger } from '../log.js';

/** Swaps the logger's file transport for a fresh one on `file`; returns whether it did. */
export function reopenLogFile(log: Logger, file: string): boolean {
  const old = log.transports.find((t) => t instanceof winston.transports.File);
  try {
    // Probe before swapping: a transport that cannot open its file fails only later, asynchronously.
    closeSync(openSync(file, 'a', 0o600));
  } catch (err) {
    log.error('reopening the log file failed; still writing to the previous one', { file, error: (err as Error).message });
    return false;
  }
  log.add(jsonFileTransport(file));
  if (old) {
    log.remove(old);
    old.close?.();
  }
  log.info('log file reopened', { file });
  return true;
}
