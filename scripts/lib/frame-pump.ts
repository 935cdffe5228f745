/**
 * The read side the scripts' raw clients and servers share: a socket's bytes through a
 * FrameDecoder, each whole frame handed on as it completes. A bad length (or a stream out of sync)
 * destroys the socket: these tools never try to resynchronise.
 */
import type { Socket } from 'node:net';
import type { FrameDecoder } from '../../src/protocol/frame.js';

export function pumpFrames(socket: Socket, decoder: FrameDecoder, onFrame: (frame: Buffer) => void): void {
  socket.on('data', (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = decoder.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const frame of frames) onFrame(frame);
  });
}
