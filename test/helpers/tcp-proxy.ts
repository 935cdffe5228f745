/**
 * A TCP proxy between clients and a server, for connection-loss tests: `cut()` drops every live
 * connection (a network failure or a server restart as the client sees it), `refuse` makes new
 * connections fail, `hold` keeps new connections waiting without forwarding (a slow server),
 * `swallowReplies` forwards requests but drops answers (the answer lost after the server acted),
 * and `target` can point at a restarted server on another port.
 */
import net from 'node:net';

export class TcpProxy {
  private server!: net.Server;
  private readonly pairs = new Set<{ a: net.Socket; b: net.Socket | null }>();
  private readonly held: (() => void)[] = [];
  port = 0;
  refuse = false;
  hold = false;
  swallowReplies = false;

  constructor(public target: number) {}

  async start(): Promise<number> {
    this.server = net.createServer((a) => this.accept(a));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** How many client connections are open right now. */
  get connections(): number {
    return this.pairs.size;
  }

  private accept(a: net.Socket): void {
    if (this.refuse) {
      a.destroy();
      return;
    }
    const pair: { a: net.Socket; b: net.Socket | null } = { a, b: null };
    this.pairs.add(pair);
    a.on('error', () => undefined);
    a.on('close', () => {
      pair.b?.destroy();
      this.pairs.delete(pair);
    });
    const connect = (): void => {
      if (a.destroyed) return;
      const b = net.connect(this.target, '127.0.0.1');
      pair.b = b;
      b.on('error', () => a.destroy());
      b.on('close', () => a.destroy());
      b.on('data', (d: Buffer) => {
        if (!this.swallowReplies) a.write(d);
      });
      a.on('data', (d: Buffer) => b.write(d));
    };
    a.pause();
    const go = (): void => {
      connect();
      a.resume();
    };
    if (this.hold) this.held.push(go);
    else go();
  }

  /** Lets held connections through. */
  release(): void {
    this.hold = false;
    for (const go of this.held.splice(0)) go();
  }

  /** Drops every live connection at once. */
  cut(): void {
    for (const p of this.pairs) {
      p.a.destroy();
      p.b?.destroy();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
