/**
 * `securechat chat --ticket-file FILE`: session tickets kept across runs (docs/PROTOCOL.md §9.2), so
 * the next run resumes instead of paying a full handshake — and, when the ticket carries the login,
 * logs in without a password round. The file therefore holds secrets as strong as a login: it is
 * written 0600 (atomically, after every change: a ticket is single use) and refused when others can
 * read it, like ssh refuses a private key. A damaged file is only a lost cache: it is reported and
 * replaced on the next save, never a reason not to connect.
 */
import { readFileSync, statSync } from 'node:fs';
import { SecureChatError } from '../errors.js';
import { PRIVATE_MODE, writeFileAtomic } from '../pki/files.js';
import type { ServerIdentity } from './client.js';
import { TicketStore, type StoredTicket } from './tickets.js';

const FORMAT_VERSION = 1;

interface SavedTicket {
  ticket: string;
  psk: string;
  expiresAt: number;
  login: { uuid: string; username: string } | null;
  server: ServerIdentity;
  serverCertSha256: string;
}

export interface TicketFile {
  store: TicketStore<ServerIdentity>;
  /** Set when the file existed but could not be used (it will be replaced). */
  warning?: string;
}

/**
 * Opens (or starts) a ticket file. Throws `usage` when the file is readable by group or others;
 * `onSaveError` hears a failed save (the run goes on with tickets in memory).
 */
export function openTicketFile(path: string, onSaveError: (err: SecureChatError) => void): TicketFile {
  const store = new TicketStore<ServerIdentity>();
  let warning: string | undefined;
  let mode: number | undefined;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SecureChatError('io_error', `The ticket file ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (mode !== undefined) {
    if ((mode & 0o077) !== 0) {
      throw new SecureChatError('usage', `The ticket file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); it holds session secrets. Run: chmod 600 ${path}`);
    }
    try {
      store.load(parseTicketFile(readFileSync(path, 'utf8')));
    } catch (err) {
      warning = `The ticket file ${path} could not be used (${(err as Error).message}); it will be replaced.`;
    }
  }
  let failed = false;
  store.onChange = () => {
    try {
      writeFileAtomic(path, serializeTicketFile(store), PRIVATE_MODE);
      failed = false;
    } catch (err) {
      // One report per failure streak: a full disk must not print a line per ticket.
      if (!failed) onSaveError(err instanceof SecureChatError ? err : new SecureChatError('io_error', (err as Error).message));
      failed = true;
    }
  };
  return { store, ...(warning ? { warning } : {}) };
}

export function serializeTicketFile(store: TicketStore<ServerIdentity>): string {
  const servers = store.entries().map(([key, list]) => ({
    key,
    tickets: list.map(
      (t): SavedTicket => ({
        ticket: t.ticket.toString('base64'),
        psk: t.psk.toString('base64'),
        expiresAt: t.expiresAt,
        login: t.login,
        server: t.server,
        serverCertSha256: t.serverCertSha256.toString('hex'),
      }),
    ),
  }));
  return JSON.stringify({ version: FORMAT_VERSION, servers }) + '\n';
}

/** Strict reader: anything unexpected makes the whole file unusable (it is only a cache). */
export function parseTicketFile(text: string): [string, StoredTicket<ServerIdentity>[]][] {
  const doc = JSON.parse(text) as unknown;
  if (!isObject(doc) || doc.version !== FORMAT_VERSION || !Array.isArray(doc.servers)) throw new Error(`not a version ${FORMAT_VERSION} ticket file`);
  return doc.servers.map((entry: unknown) => {
    if (!isObject(entry) || typeof entry.key !== 'string' || !Array.isArray(entry.tickets)) throw new Error('bad server entry');
    return [entry.key, entry.tickets.map(readTicket)] as [string, StoredTicket<ServerIdentity>[]];
  });
}

function readTicket(raw: unknown): StoredTicket<ServerIdentity> {
  if (!isObject(raw)) throw new Error('bad ticket');
  const { ticket, psk, expiresAt, login, server, serverCertSha256 } = raw;
  if (typeof ticket !== 'string' || typeof psk !== 'string' || typeof expiresAt !== 'number' || typeof serverCertSha256 !== 'string') throw new Error('bad ticket fields');
  if (!isObject(server) || typeof server.subject !== 'string' || typeof server.fingerprint !== 'string') throw new Error('bad server identity');
  if (login !== null && (!isObject(login) || typeof login.uuid !== 'string' || typeof login.username !== 'string')) throw new Error('bad login');
  const pskBytes = Buffer.from(psk, 'base64');
  const sha = Buffer.from(serverCertSha256, 'hex');
  if (pskBytes.length !== 32 || sha.length !== 32) throw new Error('bad key lengths');
  return {
    ticket: Buffer.from(ticket, 'base64'),
    psk: pskBytes,
    expiresAt,
    login: login === null ? null : { uuid: login.uuid as string, username: login.username as string },
    server: { subject: server.subject, fingerprint: server.fingerprint },
    serverCertSha256: sha,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
