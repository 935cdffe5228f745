/**
 * A hostile-but-valid client for the attack tests and `npm run fuzz -- --mode hostile`: a raw
 * handshake (scripts/fuzz/raw-connection.ts), then requests sealed by hand. It can stop reading
 * (the socket is paused, so the kernel buffers fill and the server's send path must push back),
 * pipeline requests as fast as the socket takes them, and discard or collect the answers.
 */
import { EventEmitter } from 'node:events';
import { encodeAppParts, decodeAppMessage } from '../../src/protocol/app-payload.js';
import { encodeJson } from '../../src/protocol/messages.js';
import { ContentType } from '../../src/protocol/record.js';
import type { AppMessage, LocalIdentity } from '../../src/protocol/types.js';
import { rawHandshake, type RawSession } from './raw-connection.js';

export interface RawResponse {
  id: number;
  ok: boolean;
  result?: Record<string, unknown>;
  error?: { code: string; reason?: string; message?: string; details?: Record<string, unknown> };
}

export class RawClient extends EventEmitter {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: RawResponse) => void>();
  /** Code of the alert that closed the connection, once closed ('' = closed without one). */
  closedWith: string | null = null;
  readonly closed: Promise<string>;
  responses = 0;
  private readonly counts = new Map<string, number>();

  private constructor(readonly session: RawSession) {
    super();
    const socket = session.reader.socket;
    // Records are opened as they come (nothing piles up here), beginning with any the handshake's
    // reader already holds: the session_tickets push that follows welcome.
    session.reader.handOff((f) => this.onRecord(f));
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.closedWith ??= '';
        for (const w of this.waiting.values()) w({ id: -1, ok: false, error: { code: 'connection_closed' } });
        this.waiting.clear();
        resolve(this.closedWith);
      });
    });
  }

  static async connect(port: number, identity: LocalIdentity, localAddress?: string): Promise<RawClient> {
    return new RawClient(await rawHandshake(port, identity, 10_000, localAddress));
  }

  get socket() {
    return this.session.reader.socket;
  }

  /** How many responses/pushes of each kind arrived (`ok`, error codes, push types). */
  get tally(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** Seals and writes one message; false when the socket's buffer is full (wait for 'drain'). */
  send(msg: AppMessage, data?: Buffer): boolean {
    const { contentType, parts } = encodeAppParts(encodeJson(msg), data);
    return this.socket.write(this.session.sealer.seal(contentType, parts));
  }

  /** Sends a request with a fresh id; resolves with its response (needs reading). */
  request(type: string, params: Record<string, unknown> = {}, data?: Buffer): Promise<RawResponse> {
    const id = this.nextId++;
    const answer = new Promise<RawResponse>((resolve) => this.waiting.set(id, resolve));
    this.send({ type, id, ...params }, data);
    return answer;
  }

  /** Fire and forget: a request whose response is only counted. */
  fire(type: string, params: Record<string, unknown> = {}, data?: Buffer): boolean {
    return this.send({ type, id: this.nextId++, ...params }, data);
  }

  /** Sends an alert record (what a peer does to end a session with an error). */
  alert(body: Record<string, unknown>): void {
    this.socket.write(this.session.sealer.seal(ContentType.alert, encodeJson(body)));
  }

  /** Stops reading: the kernel's buffers fill and the server sees a client that does not read. */
  stopReading(): void {
    this.socket.pause();
  }

  /**
   * Writes `make()` messages as fast as the socket takes them, for `ms`; honours the socket's own
   * backpressure (waits for 'drain'), so the flood is as fast as the server lets it be.
   */
  async flood(ms: number, make: () => { msg: AppMessage; data?: Buffer }): Promise<number> {
    const until = Date.now() + ms;
    let sent = 0;
    while (Date.now() < until && !this.socket.destroyed) {
      const { msg, data } = make();
      sent++;
      if (!this.send({ ...msg, id: msg.type === 'ping' || msg.type === 'pong' ? undefined : this.nextId++ }, data)) {
        if (!(await this.drainedWithin(until - Date.now()))) break;
      } else if (sent % 64 === 0) {
        // Let the event loop breathe (and the socket flush) now and then.
        await new Promise((r) => setImmediate(r));
      }
    }
    return sent;
  }

  close(): void {
    this.socket.destroy();
  }

  /** True once the socket drained; false on close, error or after `ms`. Leaves no listener behind. */
  private drainedWithin(ms: number): Promise<boolean> {
    const socket = this.socket;
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(false), Math.max(1, ms));
      socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
  }

  private bump(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private onRecord(frame: Buffer): void {
    let rec;
    try {
      rec = this.session.opener.open(frame);
    } catch {
      this.socket.destroy();
      return;
    }
    if (rec.contentType === ContentType.alert) {
      try {
        this.closedWith = String((JSON.parse(rec.body.toString('utf8')) as { code?: unknown }).code);
      } catch {
        this.closedWith = 'unreadable';
      }
      return;
    }
    if (rec.contentType === ContentType.closeNotify) {
      this.closedWith = 'close_notify';
      return;
    }
    const { msg, data } = decodeAppMessage(rec.contentType, rec.body);
    if (msg.type === 'response') {
      this.responses++;
      const r = msg as unknown as RawResponse;
      this.bump(r.ok ? 'ok' : String(r.error?.code));
      const w = this.waiting.get(r.id);
      if (w) {
        this.waiting.delete(r.id);
        w(r);
      }
      return;
    }
    // session_tickets (after welcome and each login, docs/PROTOCOL.md §9.2) is only counted: a
    // raw client never resumes. 'error' is not an EventEmitter event name here (it would throw).
    this.bump(`push:${msg.type}`);
    if (msg.type !== 'error') this.emit(msg.type, msg, data);
  }
}
