/**
 * Files in the page (docs/MESSAGES.md file_offer / file_chunk / file_complete / file_get): the
 * whole file is read and hashed (SHA-256, WebCrypto) before the offer, sent in the server's
 * chunk size with a few chunks in flight, and on download gathered from `file_data` pushes,
 * checked against the size and sha256 the message names, and handed over as a Blob.
 */
import { toHex } from '../../protocol/bytes.js';
import type { WebSession } from './session.js';

/** The server's default per-file limit (config `maxFileBytes`); the page refuses larger files up front. */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
/** file_chunk requests in flight per upload: enough to keep the link busy, few enough to stay responsive. */
export const CHUNKS_IN_FLIGHT = 4;

export interface FileMeta {
  uuid: string;
  name: string;
  size: number;
  sha256: string;
}

export interface Transfer {
  id: string;
  direction: 'up' | 'down';
  name: string;
  size: number;
  done: number;
  state: 'running' | 'ok' | 'failed';
  error?: string;
  result?: { id: number; seq: number; conversation_id: number; created_at: number; file: FileMeta };
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

let transferCounter = 0;

export async function sendFile(
  s: WebSession,
  target: { to: string } | { group: string },
  file: File,
  onProgress: () => void,
  onStart: (t: Transfer) => void,
): Promise<Transfer> {
  const t: Transfer = { id: `up-${++transferCounter}`, direction: 'up', name: file.name, size: file.size, done: 0, state: 'running' };
  onStart(t);
  try {
    if (file.size > MAX_FILE_BYTES) throw new Error(`Files are limited to ${MAX_FILE_BYTES / 1024 / 1024} MB.`);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sha256 = await sha256Hex(bytes);
    const offer = await s.request<{ transfer_id: string; chunk_size: number }>('file_offer', { ...target, name: file.name || 'file', size: bytes.length, sha256 });
    const inFlight: Promise<unknown>[] = [];
    for (let offset = 0; offset < bytes.length; offset += offer.chunk_size) {
      const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + offer.chunk_size));
      const sent = s.request<{ received: number }>('file_chunk', { transfer_id: offer.transfer_id, offset }, chunk).then((r) => {
        t.done = Math.max(t.done, r.received);
        onProgress();
      });
      inFlight.push(sent);
      if (inFlight.length >= CHUNKS_IN_FLIGHT) await inFlight.shift();
    }
    await Promise.all(inFlight);
    t.result = await s.request('file_complete', { transfer_id: offer.transfer_id, client_msg_id: `f${Date.now().toString(36)}${transferCounter}` });
    t.done = t.size;
    t.state = 'ok';
    onProgress();
    return t;
  } catch (err) {
    t.state = 'failed';
    t.error = err instanceof Error ? err.message : String(err);
    onProgress();
    throw err;
  }
}

export async function receiveFile(
  s: WebSession,
  m: { id: number; file?: FileMeta },
  sinks: Map<string, (meta: { offset: number }, data: Uint8Array) => void>,
  onProgress: () => void,
  onStart: (t: Transfer) => void,
): Promise<Blob> {
  const meta = m.file!;
  const t: Transfer = { id: `down-${++transferCounter}`, direction: 'down', name: meta.name, size: meta.size, done: 0, state: 'running' };
  onStart(t);
  const buffer = new Uint8Array(meta.size);
  let bad = false;
  sinks.set(meta.uuid, ({ offset }, data) => {
    if (offset !== t.done || offset + data.length > meta.size) {
      bad = true;
      return;
    }
    buffer.set(data, offset);
    t.done += data.length;
    onProgress();
  });
  try {
    // Every file_data record arrives before the response (docs/MESSAGES.md).
    await s.request('file_get', { message_id: m.id, file: meta.uuid });
    if (bad || t.done !== meta.size) throw new Error(`The file arrived incomplete (${t.done} of ${meta.size} bytes).`);
    const digest = await sha256Hex(buffer);
    if (digest !== meta.sha256.toLowerCase()) throw new Error('The file does not match its sha256: not saved.');
    t.state = 'ok';
    onProgress();
    return new Blob([buffer]);
  } catch (err) {
    t.state = 'failed';
    t.error = err instanceof Error ? err.message : String(err);
    onProgress();
    throw err;
  } finally {
    sinks.delete(meta.uuid);
  }
}
