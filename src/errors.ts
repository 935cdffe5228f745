/**
 * The one catalogue of SecureChat error codes. Every failure that reaches a peer, a log line or a
 * CLI exit goes through SecureChatError with one of these codes; `test/unit/errors.test.ts` guards
 * the catalogue against drift (docs/ERRORS.md lists the same codes).
 */

export interface ErrorSpec {
  /** User-safe default message: never contains a secret, always says what to do next where it can. */
  readonly message: string;
  /** Usage-type errors exit with 2, everything else with 1. */
  readonly usage?: boolean;
}

export const ERROR_CATALOGUE = {
  // --- generic / CLI ---
  usage: { message: 'Invalid arguments; see --help.', usage: true },
  io_error: { message: 'A file could not be read or written.', usage: true },
  internal: { message: 'Internal error; the server logged the details.' },
  not_found: { message: 'Not found.' },
  bad_input: { message: 'The input could not be parsed.', usage: true },

  // --- PKI / CA tool ---
  ca_exists: { message: 'A CA already exists in that directory; pass --force to replace it.' },
  ca_missing: { message: 'No CA found in that directory; run `securechat ca init --dir DIR` first.' },
  bad_passphrase: { message: 'The passphrase does not decrypt the CA key.' },
  bad_csr: { message: 'The certificate signing request is malformed or its signature does not verify.' },
  bad_certificate: { message: 'Certificate validation failed.' },
  bad_crl: { message: 'The CRL is malformed or not signed by its issuer.' },
  enrol_disabled: { message: 'This server does not sign enrolment requests; ask the operator to issue your certificate from your CSR (`securechat ca issue client NAME --csr FILE`).' },
  enrol_token_invalid: { message: 'The enrolment token is not valid (mistyped, withdrawn, or made for another server); ask the operator for a new one (`securechat ca enrol-token NAME`).' },
  enrol_token_used: { message: 'This enrolment token has already bought its one certificate; ask the operator for a new token.' },
  enrol_token_expired: { message: 'This enrolment token has expired; ask the operator for a new one (`securechat ca enrol-token NAME --ttl 1h`).' },
  enrol_name_mismatch: { message: 'The request (CSR) asks for another name than the one the token was made for; make the CSR with CN set to that name.' },
  request_too_large: { message: 'The request is larger than the server accepts; send only what the endpoint asks for.' },
  server_crl_expired: { message: "The server's certificate revocation list is out of date, so it refuses every certificate; your certificate is not at fault. The server operator must re-sign it (`securechat ca crl`)." },

  // --- protocol / channel ---
  malformed: { message: 'Malformed message.' },
  frame_too_large: { message: 'Frame exceeds the maximum size.' },
  handshake_frame_too_large: { message: 'A handshake frame exceeds 64 KiB (frames before the handshake completes are bounded tighter than records).' },
  unsupported_version: { message: 'Unsupported protocol version.' },
  unexpected_message: { message: 'Message not valid in the current state.' },
  replay: { message: 'Replayed handshake or record refused.' },
  clock_skew: { message: 'Timestamp outside the accepted window; check the client clock.' },
  bad_record: { message: 'Record failed authentication or arrived out of sequence.' },
  handshake_timeout: { message: 'The handshake did not complete in time.' },
  idle_timeout: { message: 'Connection closed after being idle.' },
  busy: { message: 'The server is busy; try again shortly.' },
  connection_closed: { message: 'The connection closed.' },
  connect_failed: { message: 'Could not connect to the server; check --host and --port and that it is running.' },
  timeout: { message: 'The request timed out.' },
  shutting_down: { message: 'The server is shutting down.' },
  resumption_refused: { message: 'The server did not accept the session ticket; the client falls back to a full handshake (and, if the ticket carried a login, a password login).' },
  slow_reader: { message: 'The connection was closed because it did not read what the server sent; reconnect (messages are kept).' },

  // --- accounts ---
  auth_failed: { message: 'Wrong username or password.' },
  throttled: { message: 'Too many failed attempts; retry later.' },
  weak_password: { message: 'Password too weak: at least 10 characters, not the username, not a common password.' },
  name_mismatch: { message: 'The username must be the CN of the presented certificate.' },
  exists: { message: 'Already exists.' },
  not_logged_in: { message: 'Log in first.' },
  account_disabled: { message: 'This account is disabled; contact the operator.' },
  credentials_changed: { message: 'The password of this account was changed or reset elsewhere; log in again with the new password.' },
  storage_unavailable: { message: 'Storage is unavailable; the request was not stored. Retry shortly.' },
  cluster_unavailable: { message: 'The cluster bus (Redis or NATS) is unreachable; this node keeps serving its own users and catches up when it returns.' },
  schema_too_new: { message: 'The database schema is newer than this version of SecureChat; upgrade SecureChat.' },

  // --- chat ---
  unknown_command: { message: 'Unknown command.' },
  bad_request: { message: 'Invalid request.' },
  unknown_user: { message: 'No such user.' },
  unknown_group: { message: 'No such group.' },
  not_member: { message: 'You are not a member of that group.' },
  forbidden: { message: 'Not allowed.' },
  file_too_large: { message: 'File exceeds the size limit.' },
  checksum_mismatch: { message: 'File content does not match its sha256.' },
  rate_limited: { message: 'Too many requests; slow down.' },
  quota_exceeded: { message: 'Your storage quota (files and message text) is used up; ask the operator for more.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, value);
}

export interface ErrorOptions {
  /** Finer reason, e.g. `expired` for bad_certificate. */
  reason?: string;
  /** Extra, non-secret, machine-readable detail (retryAfterMs, which certificate, …). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class SecureChatError extends Error {
  readonly code: ErrorCode;
  readonly reason?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, options: ErrorOptions = {}) {
    super(message ?? ERROR_CATALOGUE[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SecureChatError';
    this.code = code;
    if (options.reason !== undefined) this.reason = options.reason;
    if (options.details !== undefined) this.details = options.details;
  }

  /** Process exit code for the CLI: 2 for usage errors, 1 for every other failure. */
  get exitCode(): 1 | 2 {
    return 'usage' in ERROR_CATALOGUE[this.code] ? 2 : 1;
  }

  /** The shape sent to a peer or printed with --json. Never includes the stack or the cause. */
  toJSON(): { code: ErrorCode; message: string; reason?: string; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }
}

/** Wraps anything thrown into a SecureChatError; unknown errors become `internal` (details stay in the log). */
export function toSecureChatError(err: unknown, fallback: ErrorCode = 'internal'): SecureChatError {
  if (err instanceof SecureChatError) return err;
  return new SecureChatError(fallback, undefined, { cause: err });
}
