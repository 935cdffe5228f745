/**
 * The baseline server: Node's `tls`, TLS 1.3 only, requestCert + rejectUnauthorized, on the same
 * P-256 certificates as our server, speaking the same framing (4-byte length ‖ JSON). After the
 * handshake it sends one "welcome" frame (as our server does), so a client that waits for it has
 * seen the server accept its certificate. Frames: {type:'echo'} is written back as is,
 * {type:'ping'} is answered with a pong (a barrier), {type:'join'} makes the socket a fan-out
 * member, {type:'fanout', id, text} is parsed, encoded once as a push and written to every member
 * socket (each encrypts it with its own TLS keys, as our server seals once per session), then
 * acknowledged to the sender; anything else is parsed and dropped.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { FrameDecoder, encodeFrame } from '../../src/protocol/frame.js';

const WELCOME = encodeFrame(Buffer.from(JSON.stringify({ type: 'welcome' })));
const PONG = encodeFrame(Buffer.from(JSON.stringify({ type: 'pong' })));

export interface TlsBaselineServer {
  port: number;
  connections(): number;
  close(): Promise<void>;
}

export async function startTlsServer(certsDir: string): Promise<TlsBaselineServer> {
  const sockets = new Set<tls.TLSSocket>();
  const members = new Set<tls.TLSSocket>();
  const server = tls.createServer(
    {
      cert: readFileSync(join(certsDir, 'server_cert.pem')),
      key: readFileSync(join(certsDir, 'server_key.pem')),
      ca: readFileSync(join(certsDir, 'root_ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    },
    (socket) => {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        sockets.delete(socket);
        members.delete(socket);
      });
      const decoder = new FrameDecoder(1024 * 1024);
      socket.on('data', (chunk: Buffer) => {
        let frames: Buffer[];
        try {
          frames = decoder.push(chunk);
        } catch {
          socket.destroy();
          return;
        }
        for (const frame of frames) {
          const msg = JSON.parse(frame.toString('utf8')) as { type?: string; id?: number; text?: string };
          if (msg.type === 'echo') socket.write(encodeFrame(frame));
          else if (msg.type === 'ping') socket.write(PONG);
          else if (msg.type === 'join') members.add(socket);
          else if (msg.type === 'fanout') {
            const push = encodeFrame(Buffer.from(JSON.stringify({ type: 'message', id: msg.id, from: 'sender', text: msg.text })));
            for (const member of members) if (member !== socket) member.write(push);
            socket.write(encodeFrame(Buffer.from(JSON.stringify({ type: 'ok', id: msg.id }))));
          }
        }
      });
      socket.write(WELCOME);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
