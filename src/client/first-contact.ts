/**
 * What went wrong on first contact, said so that the user knows what to do next: a port that is
 * not a SecureChat server, a server certificate for another name (with the names it does carry),
 * a certificate that names someone else, an account that already exists. Pure functions from a
 * SecureChatError to a better one (same code, so scripts keep matching on it).
 */
import { SecureChatError } from '../errors.js';

export interface ContactContext {
  host: string;
  port: number;
  serverName: string;
}

/** Codes a handshake gets when the other end speaks some other protocol (MySQL, HTTP, SSH, …). */
const NOT_OUR_PROTOCOL = new Set(['frame_too_large', 'handshake_frame_too_large', 'malformed', 'unexpected_message', 'unsupported_version']);

/** Errors of dialling and the handshake (ChatClient.open). */
export function explainConnectError(err: SecureChatError, c: ContactContext): SecureChatError {
  const where = `${c.host}:${c.port}`;
  if (NOT_OUR_PROTOCOL.has(err.code) && err.details?.fromPeer !== true) {
    return new SecureChatError('connect_failed', `${where} is not a SecureChat server (it answered something else). Check --host and --port.`, {
      reason: 'not_securechat',
      details: { host: c.host, port: c.port, cause: err.code },
      cause: err,
    });
  }
  if (err.code === 'handshake_timeout') {
    return new SecureChatError('handshake_timeout', `${where} accepted the connection but did not complete a SecureChat handshake in time — is it a SecureChat server, and is it overloaded?`, {
      cause: err,
    });
  }
  if (err.code === 'connect_failed' && /ECONNREFUSED/.test(err.message)) {
    return new SecureChatError('connect_failed', `Nothing is listening on ${where} (connection refused). Is the server running (securechat serve)? Check --host and --port.`, {
      reason: 'refused',
      cause: err,
    });
  }
  if (err.code !== 'bad_certificate') return err;
  const reason = err.reason ?? 'unknown';
  if (err.details?.fromPeer === true) {
    return new SecureChatError('bad_certificate', `[Client] Server rejected certificate – closing connection (${reason})`, { reason, ...(err.details ? { details: err.details } : {}) });
  }
  const names = Array.isArray(err.details?.names) ? (err.details.names as string[]) : undefined;
  if (reason === 'name_mismatch' && names) {
    const list = names.length > 0 ? names.join(', ') : '(no names)';
    const hint = names.length > 0 ? `; if that is the server you meant, pass --server-name ${names[0]}` : '';
    return new SecureChatError(
      'bad_certificate',
      `[Client] Refusing server certificate (name_mismatch): it is for ${list}, not for "${c.serverName}"${hint}.`,
      { reason, details: { ...err.details } },
    );
  }
  return new SecureChatError('bad_certificate', `[Client] Refusing server certificate (${reason}): ${err.message}`, { reason, ...(err.details ? { details: err.details } : {}) });
}

export interface LoginContext {
  /** The name we logged in as (--user), when given. */
  user?: string;
  /** The CN of our certificate: the account it may log in to. */
  certName?: string;
  register: boolean;
}

/** Errors of login/register. */
export function explainLoginError(err: SecureChatError, c: LoginContext): SecureChatError {
  const name = c.user ?? c.certName ?? 'this account';
  switch (err.code) {
    case 'name_mismatch':
      return c.certName
        ? new SecureChatError('name_mismatch', `Your certificate is for '${c.certName}'; log in as ${c.certName} or use another certificate.`, { details: { certificate: c.certName }, cause: err })
        : err;
    case 'exists':
      return c.register ? new SecureChatError('exists', `Account ${name} exists — drop --register to log in.`, { cause: err }) : err;
    case 'auth_failed':
      return new SecureChatError('auth_failed', c.register ? err.message : `Wrong password for ${name} (new here? add --register to create the account).`, { cause: err });
    default:
      return err;
  }
}
