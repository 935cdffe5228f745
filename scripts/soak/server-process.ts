/**
 * The server under test, as its own process (forked by soak and fuzz): a real startServer() on
 * 127.0.0.1 with the given certificates and database. It reports over IPC when it listens and,
 * every `statsMs`, its RSS — so the harness can SIGKILL it, restart it on the same port, and watch
 * its memory without sharing its event loop or heap.
 *
 * argv: JSON of ServerProcessArgs.
 */
import { DEFAULT_CONFIG, type ServerConfig } from '../../src/config.js';
import { toSecureChatError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { startServer } from '../../src/server/start.js';

export interface ServerProcessArgs {
  certs: string;
  db: string;
  port: number;
  logFile: string;
  logLevel: string;
  statsMs: number;
  /** Extra ServerConfig keys (limits) for this run. */
  config?: Partial<ServerConfig>;
}

/** Messages the server process sends to its parent. */
export type ServerProcessMessage =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'stats'; rss: number; heapUsed: number; sessions: number; cpuUserUs: number; cpuSystemUs: number }
  | { type: 'failed'; code: string; message: string };

function send(msg: ServerProcessMessage): void {
  process.send?.(msg);
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as ServerProcessArgs;
  const log = createLogger({ level: args.logLevel, file: args.logFile, console: false });
  const config: ServerConfig = {
    ...DEFAULT_CONFIG,
    ...args.config,
    host: '127.0.0.1',
    port: args.port,
    certs: args.certs,
    db: args.db,
    logFile: args.logFile,
    logLevel: args.logLevel,
    autoGenerateCerts: false,
  };
  let running;
  try {
    running = await startServer(config, log);
  } catch (err) {
    const e = toSecureChatError(err);
    send({ type: 'failed', code: e.code, message: e.message });
    process.exit(1);
  }
  const server = running;
  send({ type: 'ready', port: server.port, pid: process.pid });
  const stats = setInterval(() => {
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    send({ type: 'stats', rss: mem.rss, heapUsed: mem.heapUsed, sessions: server.server.sessions.size, cpuUserUs: cpu.user, cpuSystemUs: cpu.system });
  }, args.statsMs);
  const shutdown = (): void => {
    clearInterval(stats);
    void server.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  // The parent went away (crashed harness): don't linger holding the port and the database.
  process.on('disconnect', shutdown);
}

void main();
