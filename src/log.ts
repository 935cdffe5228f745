/**
 * winston logger factory: readable lines on the console, JSON lines to an optional file, one child
 * logger per component. A redaction format drops fields whose names look secret so that a careless
 * `log.info('x', { password })` cannot leak.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: string;
  /** Path of a JSON-lines log file; its directory is created. */
  file?: string;
  /** Console output (default true). Tests and scripts pass false. */
  console?: boolean;
  /** Write console lines to stderr instead of stdout (keeps stdout clean for --json). */
  stderr?: boolean;
}

const SECRET_KEY = /pass(word|phrase)?|secret|private|priv_?key|^key$|token|salt|hash/i;

function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message') continue;
    info[key] = SECRET_KEY.test(key) ? '[redacted]' : redact(info[key]);
  }
  return info;
});

const consoleLine = winston.format.printf((info) => {
  const { level, message, timestamp, component, ...rest } = info as Record<string, unknown>;
  const extras = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
  const where = component ? `[${String(component)}] ` : '';
  return `${String(timestamp)} ${level} ${where}${String(message)}${extras}`;
});

/**
 * The JSON-lines file transport. The log holds user names and addresses: its directory is created
 * 0700 and the file 0600, whatever the umask (issue 9 §4).
 */
export function jsonFileTransport(file: string): winston.transport {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return new winston.transports.File({ filename: file, format: winston.format.json(), options: { flags: 'a', mode: 0o600 } });
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const transports: winston.transport[] = [];
  if (options.console !== false) {
    transports.push(
      new winston.transports.Console({
        stderrLevels: options.stderr ? ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] : ['error'],
        format: winston.format.combine(winston.format.colorize(), consoleLine),
      }),
    );
  }
  if (options.file) {
    transports.push(jsonFileTransport(options.file));
  }
  return winston.createLogger({
    level: options.level ?? process.env.SECURECHAT_LOG_LEVEL ?? 'info',
    format: winston.format.combine(redactFormat(), winston.format.timestamp()),
    transports,
    // A logger with no transport would warn on every write.
    silent: transports.length === 0,
  });
}

/** A logger that writes nothing: for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return createLogger({ console: false });
}

export function componentLogger(parent: Logger, component: string): Logger {
  return parent.child({ component });
}
