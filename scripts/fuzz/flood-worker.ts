/**
 * One hostile client in its own process (so its CPU does not slow the well-behaved client being
 * measured): handshake with `user`'s certificate, optionally log in, then flood one request type
 * for `ms`, reading and discarding the answers (or not reading at all). Prints a JSON tally.
 *
 * argv: JSON of FloodArgs.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import { UPLOAD_KINDS, floodMessage, uploadAttack, type FloodKind, type UploadKind } from './floods.js';
import { RawClient } from './raw-client.js';

export interface FloodArgs {
  port: number;
  certs: string;
  user: string;
  /** Log in first with this password (omit to flood before login). */
  password?: string;
  kind: FloodKind | UploadKind;
  /** Flood kinds: how long to flood. Upload kinds: ignored (they run their `files`). */
  ms: number;
  /** false: never read (the kernel buffers fill). */
  read: boolean;
  /** The peer to name in history/ack floods. */
  peer?: string;
  /** Sessions to open and flood from at once (default 1). */
  sessions?: number;
  /** Upload kinds: uploads per session, and the size of each. */
  files?: number;
  fileBytes?: number;
  /** Keep the sessions open this long after reporting (unfinished uploads die with their session). */
  holdMs?: number;
}

function isUploadKind(kind: string): kind is UploadKind {
  return (UPLOAD_KINDS as readonly string[]).includes(kind);
}


async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as FloodArgs;
  const identity = {
    chain: readPemCertificates(readFileSync(join(args.certs, `${args.user}_cert.pem`), 'utf8')),
    privateKey: readPrivateKey(readFileSync(join(args.certs, `${args.user}_key.pem`), 'utf8')),
  };
  const clients = await Promise.all(Array.from({ length: args.sessions ?? 1 }, () => RawClient.connect(args.port, identity)));
  for (const client of clients) {
    if (args.password && args.kind !== 'register' && args.kind !== 'login') {
      const r = await client.request('login', { password: args.password });
      if (!r.ok) throw new Error(`login failed: ${JSON.stringify(r.error)}`);
    }
    if (!args.read) client.stopReading();
  }
  process.stdout.write('flooding\n');
  const kind = args.kind;
  const peer = args.peer ?? 'alice';
  const outcomes: Record<string, number> = {};
  const sent = isUploadKind(kind)
    ? await Promise.all(clients.map((c) => uploadAttack(c, kind, peer, args.fileBytes ?? 1024 * 1024, args.files ?? 1, outcomes)))
    : await Promise.all(clients.map((c) => c.flood(args.ms, () => floodMessage(kind, peer, args.password ?? 'x'))));
  // Give the last answers a moment to arrive, then report.
  await new Promise((r) => setTimeout(r, 200));
  const tally: Record<string, number> = isUploadKind(kind) ? outcomes : {};
  if (!isUploadKind(kind)) for (const c of clients) for (const [k, n] of Object.entries(c.tally)) tally[k] = (tally[k] ?? 0) + n;
  const result = {
    kind,
    // Upload kinds: bytes the server accepted; floods: messages written.
    sent: sent.reduce((a, b) => a + b, 0),
    responses: clients.reduce((a, c) => a + c.responses, 0),
    tally,
    closedWith: clients.map((c) => c.closedWith).find((c) => c !== null) ?? null,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  if (args.holdMs) await new Promise((r) => setTimeout(r, args.holdMs));
  for (const c of clients) c.close();
  process.exit(0);
}

void main().catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ error: String((err as Error)?.message ?? err) }) + '\n');
  process.exit(1);
});
