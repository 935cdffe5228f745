/**
 * Test identities and stream pairs for protocol tests: P-256 keys with minimal self-signed
 * certificates (@peculiar/x509), an in-memory duplex pair, and a real TCP pair on 127.0.0.1.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { SecureChatError } from '../../src/errors.js';
import type { LocalIdentity } from '../../src/protocol/types.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface TestIdentity extends LocalIdentity {
  cert: x509.X509Certificate;
}

export async function makeIdentity(cn: string): Promise<TestIdentity> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as CryptoKeyPair,
    signingAlgorithm: ALG,
  });
  return { cert, chain: [Buffer.from(cert.rawData)], privateKey: KeyObject.from(keys.privateKey as webcrypto.CryptoKey) };
}

let cached: Promise<{ server: TestIdentity; client: TestIdentity; other: TestIdentity }> | undefined;
/** Server, client and an unrelated identity, generated once per test file. */
export function identities(): Promise<{ server: TestIdentity; client: TestIdentity; other: TestIdentity }> {
  cached ??= Promise.all([makeIdentity('server.test'), makeIdentity('alice'), makeIdentity('mallory')]).then(([server, client, other]) => ({
    server,
    client,
    other,
  }));
  return cached;
}

/** Injected policy for tests: accept exactly the expected leaf(s), return its CN. */
export function expectLeaf(...expected: TestIdentity[]) {
  return (chain: Buffer[]): string => {
    const match = expected.find((id) => id.chain[0].equals(chain[0]));
    if (!match) throw new SecureChatError('bad_certificate', 'Unexpected certificate.', { reason: 'untrusted' });
    return match.cert.subjectName.getField('CN')[0];
  };
}

/** Two connected in-memory duplex streams (Node 20 has no stream.duplexPair). */
/**
 * Two connected in-memory streams. With `deferred`, each write reaches the other side on a later
 * turn of the event loop, as over a socket (scripts/bench/handshake-cpu.ts: the peer's work then
 * never runs inside the writer's timed step); without, at once.
 */
export function duplexPair(options: { deferred?: boolean } = {}): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const deliver = options.deferred ? (f: () => void) => setImmediate(f) : (f: () => void) => f();
  const make = (peer: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        deliver(() => peer().push(chunk));
        cb();
      },
      final(cb) {
        deliver(() => peer().push(null));
        cb();
      },
    });
  ends.push(make(() => ends[1]), make(() => ends[0]));
  return [ends[0], ends[1]];
}

/** A real TCP connection on 127.0.0.1 (port 0): [server side, client side, close()]. */
export async function tcpPair(): Promise<{ server: net.Socket; client: net.Socket; close: () => void }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection');
  const client = net.connect(port, '127.0.0.1');
  const [server] = (await accepted) as [net.Socket];
  await once(client, 'connect').catch(() => undefined);
  return {
    server,
    client,
    close: () => {
      server.destroy();
      client.destroy();
      listener.close();
    },
  };
}

/** A TCP listener that hands every accepted socket to `onSocket`; returns its port. */
export async function listen(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  return {
    port: (listener.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => listener.close(r));
    },
  };
}

/** Captures an async rejection as a SecureChatError for assertions. */
export async function rejection(p: Promise<unknown>): Promise<SecureChatError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SecureChatError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}
