/**
 * One hostile client in its own process (so its CPU does not slow the well-behaved client being
 * measured): handshake with `user`'s certificate, optionally log in, then flood one request type
 * (or, `mixed`, every type at once, one per session) for `ms`, reading and discarding the answers
 * (or not reading at all); or run an upload attack; or (`bad_hello`) open connection after
 * connection with a malformed client_hello. Prints "flooding", then a JSON tally.
 *
 * argv: JSON of FloodArgs.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { FLOOD_KINDS, UPLOAD_KINDS, fileMemoryAttack, floodMessage, uploadAttack, type FloodKind, type UploadKind } from './floods.js';
import { clientHelloBytes, dialRaw } from './raw-connection.js';
import { RawClient } from './raw-client.js';

/** Malformed hellos (an all-zero X25519 share) on fresh connections: refused before any shared state. */
export const BAD_HELLO = 'bad_hello';
/** Every FLOOD_KINDS at once, one per session (round robin). */
export const MIXED = 'mixed';

export interface FloodArgs {
  port: number;
  certs: string;
  user: string;
  /** Log in first with this password (omit to flood before login; register/login floods never log in). */
  password?: string;
  kind: FloodKind | UploadKind | typeof BAD_HELLO | typeof MIXED;
  /** Flood kinds: how long to flood. Upload kinds: ignored (they run their `files`). */
  ms: number;
  /** false: never read (the kernel buffers fill). */
  read: boolean;
  /** The peer to name in history/ack floods. */
  peer?: string;
  /** Sessions (bad_hello: concurrent connections) to flood from at once (default 1). */
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

function bump(tally: Record<string, number>, key: string): void {
  tally[key] = (tally[key] ?? 0) + 1;
}

/** One connection after another for `ms`: send a malformed hello, tally the server's answer. */
async function badHellos(port: number, ms: number, tally: Record<string, number>): Promise<number> {
  const zero = Buffer.alloc(32).toString('base64');
  const until = Date.now() + ms;
  let sent = 0;
  while (Date.now() < until) {
    let reader;
    try {
      reader = await dialRaw(port);
    } catch {
      bump(tally, 'connect_failed');
      continue;
    }
    reader.socket.write(encodeFrame(clientHelloBytes({ key_share: zero }).bytes));
    sent++;
    const answer = await reader.next(5000);
    let code = '(closed)';
    try {
      if (answer) code = String((JSON.parse(answer.toString('utf8')) as { code?: string; type?: string }).code ?? 'answered');
    } catch {
      code = '(unreadable)';
    }
    bump(tally, code);
    reader.socket.destroy();
  }
  return sent;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as FloodArgs;
  const kind = args.kind;
  const sessions = args.sessions ?? 1;
  if (kind === BAD_HELLO) {
    process.stdout.write('flooding\n');
    const tally: Record<string, number> = {};
    const sent = await Promise.all(Array.from({ length: sessions }, () => badHellos(args.port, args.ms, tally)));
    process.stdout.write(JSON.stringify({ kind, sent: sent.reduce((a, b) => a + b, 0), responses: Object.values(tally).reduce((a, b) => a + b, 0), tally, closedWith: null }) + '\n');
    process.exit(0);
  }
  const identity = {
    chain: readPemCertificates(readFileSync(join(args.certs, `${args.user}_cert.pem`), 'utf8')),
    privateKey: readPrivateKey(readFileSync(join(args.certs, `${args.user}_key.pem`), 'utf8')),
  };
  const kindOf = (i: number): FloodKind | UploadKind => (kind === MIXED ? FLOOD_KINDS[i % FLOOD_KINDS.length] : kind);
  const clients = await Promise.all(Array.from({ length: sessions }, () => RawClient.connect(args.port, identity)));
  for (const [i, client] of clients.entries()) {
    if (args.password && kindOf(i) !== 'register' && kindOf(i) !== 'login') {
      const r = await client.request('login', { password: args.password });
      if (!r.ok) throw new Error(`login failed: ${JSON.stringify(r.error)}`);
    }
    if (!args.read) client.stopReading();
  }
  process.stdout.write('flooding\n');
  const peer = args.peer ?? 'alice';
  const outcomes: Record<string, number> = {};
  const sent = await Promise.all(
    clients.map((c, i) => {
      const k = kindOf(i);
      if (k === 'file_memory') return fileMemoryAttack(c, peer, args.fileBytes ?? 1024 * 1024, args.files ?? 1, outcomes);
      return isUploadKind(k)
        ? uploadAttack(c, k, peer, args.fileBytes ?? 1024 * 1024, args.files ?? 1, outcomes)
        : c.flood(args.ms, () => floodMessage(k, peer, args.password ?? 'x'));
    }),
  );
  // Give the last answers a moment to arrive, then report.
  await new Promise((r) => setTimeout(r, 200));
  // Upload sessions report their uploads' outcomes; flooding ones every answer they got.
  const tally: Record<string, number> = outcomes;
  for (const [i, c] of clients.entries()) if (!isUploadKind(kindOf(i))) for (const [k, n] of Object.entries(c.tally)) tally[k] = (tally[k] ?? 0) + n;
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
