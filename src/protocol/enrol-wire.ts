/**
 * The HTTP API of the WebSocket port (docs/WEB.md "Enrolment by token (server side)"): the one home
 * of its paths, bodies and limits, shared by the server, the web client and the tests. Plain data
 * and checks only (no Buffer, no node:*), so the browser bundle can import it.
 *
 *   POST /api/enrol  Content-Type: application/json  {"token": "...", "csr": "<PEM CSR>"}
 *        200 {"certificate": "<PEM leaf>", "chain": ["<PEM intermediate>", ...], "roots": ["<PEM root>", ...]}
 *   GET  /api/trust  200 {"roots": ["<PEM root>", ...], "serverName": "<name in the server certificate>"}
 *   any failure      4xx/5xx {"error": {"code": "<code of src/errors.ts>", "message": "<what to do next>"}}
 */
import { SecureChatError, type ErrorCode } from '../errors.js';

export const ENROL_PATH = '/api/enrol';
export const TRUST_PATH = '/api/trust';
export const API_PREFIX = '/api/';
/** Largest request body accepted by POST /api/enrol: a P-256 CSR in PEM is about 600 bytes. */
export const MAX_ENROL_BODY_BYTES = 16 * 1024;
/** Longest CSR text accepted inside that body. */
export const MAX_CSR_PEM_CHARS = 12 * 1024;

export interface EnrolRequest {
  token: string;
  csr: string;
}

export interface EnrolResponse {
  /** The issued client certificate (EKU clientAuth, CN = the token's name). */
  certificate: string;
  /** Intermediate CA certificates, leaf side first; empty when the root signs leaves. */
  chain: string[];
  /** The trust anchors: what the client pins to check the server's chain. */
  roots: string[];
}

export interface TrustResponse {
  roots: string[];
  /** The name to check the server's certificate against (its first subjectAltName). */
  serverName: string;
}

export interface ApiError {
  error: { code: ErrorCode | string; message: string };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Checks a parsed POST /api/enrol body: exactly `token` and `csr`, both strings, bounded. */
export function parseEnrolRequest(body: unknown): EnrolRequest {
  if (!isObject(body)) throw new SecureChatError('bad_request', 'The body must be a JSON object {"token": "...", "csr": "<PEM>"}.');
  const extra = Object.keys(body).filter((k) => k !== 'token' && k !== 'csr');
  if (extra.length > 0) throw new SecureChatError('bad_request', `Unexpected field "${extra[0]}"; send only "token" and "csr".`);
  const { token, csr } = body;
  if (typeof token !== 'string' || token.length === 0) throw new SecureChatError('bad_request', '"token" must be the enrolment token text.');
  if (typeof csr !== 'string' || csr.length === 0) throw new SecureChatError('bad_request', '"csr" must be a PEM CERTIFICATE REQUEST.');
  if (csr.length > MAX_CSR_PEM_CHARS) throw new SecureChatError('request_too_large', `"csr" is longer than ${MAX_CSR_PEM_CHARS} characters.`);
  return { token, csr };
}

export function isEnrolResponse(v: unknown): v is EnrolResponse {
  return isObject(v) && typeof v.certificate === 'string' && isStringArray(v.chain) && isStringArray(v.roots);
}

export function isTrustResponse(v: unknown): v is TrustResponse {
  return isObject(v) && isStringArray(v.roots) && typeof v.serverName === 'string';
}

export function isApiError(v: unknown): v is ApiError {
  return isObject(v) && isObject(v.error) && typeof v.error.code === 'string' && typeof v.error.message === 'string';
}

/** HTTP status of each error code the API returns (anything else: 500). */
export const API_STATUS: Partial<Record<ErrorCode, number>> = {
  bad_request: 400,
  bad_csr: 400,
  enrol_token_invalid: 403,
  enrol_token_expired: 403,
  enrol_disabled: 403,
  forbidden: 403,
  not_found: 404,
  enrol_token_used: 409,
  enrol_name_mismatch: 409,
  request_too_large: 413,
  rate_limited: 429,
  busy: 503,
};
