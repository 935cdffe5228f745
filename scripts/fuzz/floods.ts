/** The request floods a hostile client tries (tests and `npm run fuzz -- --mode hostile`): one cheap shape each. */
import { createHash, randomBytes } from 'node:crypto';
import type { AppMessage } from '../../src/protocol/types.js';

export const FLOOD_KINDS = ['ping', 'pong', 'ack', 'file_chunk', 'history', 'who', 'unknown', 'malformed', 'file_get', 'register', 'login'] as const;
export type FloodKind = (typeof FLOOD_KINDS)[number];

const CHUNK = Buffer.alloc(16 * 1024, 7);

export function floodMessage(kind: FloodKind, peer: string, password: string): { msg: AppMessage; data?: Buffer } {
  switch (kind) {
    case 'ping':
      return { msg: { type: 'ping' } };
    case 'pong':
      // Unasked for: the server never pinged.
      return { msg: { type: 'pong' } };
    case 'ack':
      return { msg: { type: 'ack', conversation_id: 1, upto: 1 } };
    case 'file_chunk':
      return { msg: { type: 'file_chunk', transfer_id: 'no-such-transfer', offset: 0 }, data: CHUNK };
    case 'history':
      return { msg: { type: 'history', with: peer, limit: 200 } };
    case 'who':
      return { msg: { type: 'who' } };
    case 'unknown':
      return { msg: { type: 'launch_missiles' } };
    case 'malformed':
      return { msg: { type: 'who', extra: 'x'.repeat(64) } };
    case 'file_get':
      return { msg: { type: 'file_get', message_id: 1 } };
    case 'register':
      return { msg: { type: 'register', password } };
    case 'login':
      return { msg: { type: 'login', password: `${password}-wrong` } };
  }
}


/**
 * Attacks on the upload path (issue 10 cases 4 and 8): whole uploads, not one message each; and
 * `file_memory`, which stores files and then downloads them without reading (see fileMemoryAttack).
 */
export const UPLOAD_KINDS = ['unfinished_uploads', 'quota', 'file_memory'] as const;
export type UploadKind = (typeof UPLOAD_KINDS)[number];

/** What a request-sending client needs (RawClient), kept structural so this module stays free of sockets. */
interface Requester {
  request(type: string, params?: Record<string, unknown>, data?: Buffer): Promise<{ ok: boolean; result?: Record<string, unknown>; error?: { code: string; reason?: string; details?: Record<string, unknown> } }>;
}

const UPLOAD_CHUNK = 256 * 1024;

function codeOf(error: { code: string; reason?: string } | undefined): string {
  return error ? (error.reason ? `${error.code}:${error.reason}` : error.code) : 'ok';
}

/** One request, retried while the rate limiter says when (a hostile client that waits just long enough). */
async function patient(client: Requester, type: string, params: Record<string, unknown>, data?: Buffer): Promise<Awaited<ReturnType<Requester['request']>>> {
  for (;;) {
    const r = await client.request(type, params, data);
    // Budget refusals (spool, open transfers) are rate_limited too, but with no time to wait for.
    if (r.ok || r.error?.code !== 'rate_limited' || r.error.details?.['retryAfterMs'] === undefined) return r;
    const wait = Number(r.error.details['retryAfterMs']);
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Math.max(10, wait))));
  }
}

/**
 * Offers a file of `content` to `peer` and sends it; `complete: false` stops one byte short and
 * leaves the upload open (it sits in the server's spool until the idle timeout). Returns 'ok' or
 * the refusal's code[:reason], and the bytes the server accepted.
 */
export async function uploadFile(client: Requester, peer: string, content: Buffer, complete: boolean): Promise<{ code: string; bytes: number; messageId?: number }> {
  const sha256 = createHash('sha256').update(content).digest('hex');
  const offer = await patient(client, 'file_offer', { to: peer, name: `f-${sha256.slice(0, 8)}.bin`, size: content.length, sha256 });
  if (!offer.ok) return { code: `offer:${codeOf(offer.error)}`, bytes: 0 };
  const transfer_id = offer.result?.['transfer_id'];
  const end = complete ? content.length : content.length - 1;
  let offset = 0;
  while (offset < end) {
    const data = content.subarray(offset, Math.min(end, offset + UPLOAD_CHUNK));
    const r = await patient(client, 'file_chunk', { transfer_id, offset }, data);
    if (!r.ok) return { code: `chunk:${codeOf(r.error)}`, bytes: offset };
    offset += data.length;
  }
  if (!complete) return { code: 'unfinished', bytes: offset };
  // A hostile client retries a completion the server refused for lack of memory (the upload stays open).
  let done = await patient(client, 'file_complete', { transfer_id });
  for (let i = 0; i < 50 && !done.ok && done.error?.reason === 'files_in_memory_budget'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    done = await patient(client, 'file_complete', { transfer_id });
  }
  const id = done.result?.['id'];
  return { code: done.ok ? 'stored' : `complete:${codeOf(done.error)}`, bytes: offset, ...(typeof id === 'number' ? { messageId: id } : {}) };
}

/** What fileMemoryAttack needs beyond requests: a way to stop reading and to send without waiting. */
interface Downloader extends Requester {
  stopReading(): void;
  fire(type: string, params?: Record<string, unknown>): boolean;
}

/**
 * The file_complete / recent-files memory attack: store `files` files of `fileBytes` to `peer`,
 * then stop reading and ask for each of them (file_get) and again, so every download the server
 * starts stalls on a full socket while holding a whole file. Across many sessions this asks the
 * server to hold sessions × files × fileBytes at once (against maxDownloadBytes +
 * recentFilesBytes). The answers are never read: the server's own metrics tell what happened.
 */
export async function fileMemoryAttack(client: Downloader, peer: string, fileBytes: number, files: number, tally: Record<string, number>): Promise<number> {
  let bytes = 0;
  const ids: number[] = [];
  for (let i = 0; i < files; i++) {
    const r = await uploadFile(client, peer, randomBytes(fileBytes), true);
    tally[r.code] = (tally[r.code] ?? 0) + 1;
    bytes += r.bytes;
    if (r.messageId !== undefined) ids.push(r.messageId);
  }
  client.stopReading();
  for (let round = 0; round < 2; round++) for (const id of ids) client.fire('file_get', { message_id: id });
  tally['get:fired'] = (tally['get:fired'] ?? 0) + 2 * ids.length;
  return bytes;
}

/**
 * One session's share of an upload attack: `files` uploads of `fileBytes` random bytes each to
 * `peer`, left unfinished (`unfinished_uploads`: they sit in the spool) or completed (`quota`:
 * they are stored for an offline recipient). Adds each outcome to `tally`; returns the bytes sent.
 */
export async function uploadAttack(client: Requester, kind: UploadKind, peer: string, fileBytes: number, files: number, tally: Record<string, number>): Promise<number> {
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const r = await uploadFile(client, peer, randomBytes(fileBytes), kind === 'quota');
    tally[r.code] = (tally[r.code] ?? 0) + 1;
    bytes += r.bytes;
  }
  return bytes;
}
