/**
 * winston logger factory: on the console, readable lines on a terminal and JSON lines otherwise
 * (`docker logs`, journald, a log shipper); JSON lines to an optional file; one child logger per
 * component. Every JSON line carries pid and hostname, so lines from several nodes can be merged.
 * Colour only on a terminal and never with NO_COLOR (https://no-color.org). A redaction format
 * drops fields whose names look secret so that a careless `log.info('x', { password })` cannot leak.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import winston from 'winston';

export type Logger = winston.Logger;

/** The levels an operator may choose, most severe first (winston's npm levels, minus the unused). */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** auto: JSON lines unless the console is a terminal. */
export const LOG_FORMATS = ['auto', 'json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  level?: string;
  /** Console format (default auto). */
  format?: LogFormat;
  /** Path of a JSON-lines log file; its directory is created. */
  file?: string;
  /** Console output (default true). Tests and scripts pass false. */
  console?: boolean;
  /** Write console lines to stderr instead of stdout (keeps stdout clean for --json). */
  stderr?: boolean;
  /** For tests: what the console is (default process.stdout / process.stderr) and the environment. */
  tty?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/** What the console gets: `text` with or without colour, or `json`. */
export function consoleStyle(format: LogFormat, tty: boolean, env: NodeJS.ProcessEnv): { json: boolean; color: boolean } {
  const json = format === 'json' || (format === 'auto' && !tty);
  // NO_COLOR: "when present and not an empty string" disables colour.
  return { json, color: !json && tty && !env.NO_COLOR };
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

/** C0/C1 controls (newline, ESC…), line/paragraph separators and bidi overrides: they can forge log lines. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_IN_LOG_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes text safe for a one-line human log: every control character becomes a visible `\u00XX`
 * escape, so peer-supplied text (an alert reason, a name) cannot start a fake line or colour one.
 */
export function escapeForLogLine(text: string): string {
  return text.replace(UNSAFE_IN_LOG_LINE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const consoleLine = winston.format.printf((info) => {
  const { level, message, timestamp, component, ...rest } = info as Record<string, unknown>;
  const extras = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
  const where = component ? `[${escapeForLogLine(String(component))}] ` : '';
  // `level` carries colorize's ANSI codes on purpose; everything else may hold peer text.
  return `${String(timestamp)} ${level} ${where}${escapeForLogLine(String(message))}${escapeForLogLine(extras)}`;
});

/**
 * The JSON-lines file transport. The log holds user names and addresses: its directory is created
 * 0700 and the file 0600, whatever the umask (issue 9 §4).
 */
export function jsonFileTransport(file: string): winston.transport {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return new winston.transports.File({ filename: file, format: winston.format.json(), options: { flags: 'a', mode: 0o600 } });
}

/** The readable line leaves out what a terminal user already knows (which process, which host). */
const withoutProcessFields = winston.format((info) => {
  delete info.pid;
  delete info.hostname;
  return info;
});

const ALL_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const level = options.level ?? env.SECURECHAT_LOG_LEVEL ?? 'info';
  // winston drops every line of an unknown level without a word: refuse it instead.
  if (!isLogLevel(level)) throw new TypeError(`Unknown log level "${level}"; use one of ${LOG_LEVELS.join(', ')}.`);
  const transports: winston.transport[] = [];
  if (options.console !== false) {
    const stream = options.stderr ? process.stderr : process.stdout;
    const style = consoleStyle(options.format ?? 'auto', options.tty ?? Boolean(stream.isTTY), env);
    const text = style.color ? winston.format.combine(withoutProcessFields(), winston.format.colorize(), consoleLine) : winston.format.combine(withoutProcessFields(), consoleLine);
    transports.push(
      new winston.transports.Console({
        // JSON lines all go to one stream (a collector reads stdout); readable errors go to stderr.
        stderrLevels: options.stderr ? ALL_LEVELS : style.json ? [] : ['error'],
        format: style.json ? winston.format.json() : text,
      }),
    );
  }
  if (options.file) {
    transports.push(jsonFileTransport(options.file));
  }
  return winston.createLogger({
    level,
    defaultMeta: { pid: process.pid, hostname: hostname() },
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
