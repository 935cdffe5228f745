/**
 * Several servers (the nodes of one cluster) for one client: `--host a:5000,b:5001` or the
 * library's `servers`. Every dial — the first connect and each reconnect — starts with the node
 * that worked last and, when that one cannot be reached (refused, timed out, shutting down, busy),
 * tries the others in the order given, all within the one attempt; only when every node failed
 * does the reconnect loop back off. A failure no other node would change (our certificate refused,
 * the password wrong, the account disabled) ends the attempt at once. The nodes share tickets
 * (ClientOptions.ticketScope), so a failover resumes with the ticket the last node issued.
 */
import { SecureChatError, toSecureChatError } from '../errors.js';
import { isRetryableClose } from './reconnect.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** At most this many servers in one list (a typo must not make a client dial hundreds). */
export const MAX_SERVERS = 16;

function parsePort(text: string, entry: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new SecureChatError('usage', `"${entry}": the port must be 1..65535.`);
  return port;
}

/**
 * "a:5000,b,[::1]:5002" → endpoints; an entry without a port takes `defaultPort`. A bare IPv6
 * address (more than one colon, no brackets) is a host without a port.
 */
export function parseServerList(spec: string, defaultPort: number): Endpoint[] {
  const entries = spec.split(',').map((s) => s.trim());
  if (entries.some((e) => e === '')) throw new SecureChatError('usage', `--host "${spec}": an empty entry.`);
  if (entries.length > MAX_SERVERS) throw new SecureChatError('usage', `--host: at most ${MAX_SERVERS} servers.`);
  const out = entries.map((entry): Endpoint => {
    const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
    if (v6) return { host: v6[1], port: v6[2] !== undefined ? parsePort(v6[2], entry) : defaultPort };
    const colons = entry.split(':').length - 1;
    if (colons === 1) {
      const [host, port] = entry.split(':');
      if (host === '') throw new SecureChatError('usage', `"${entry}": no host.`);
      return { host, port: parsePort(port, entry) };
    }
    return { host: entry, port: defaultPort };
  });
  const seen = new Set<string>();
  for (const e of out) {
    const k = endpointName(e);
    if (seen.has(k)) throw new SecureChatError('usage', `--host: ${k} is listed twice.`);
    seen.add(k);
  }
  return out;
}

export function endpointName(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** The tickets of a server list: shared by all its nodes (a single server keeps the default scope). */
export function clusterTicketScope(endpoints: Endpoint[]): string | undefined {
  return endpoints.length > 1 ? `cluster(${endpoints.map(endpointName).join(',')})` : undefined;
}

/** Dials the node that worked last, then the others in order; remembers which one answered. */
export class FailoverDialer<C> {
  private preferred = 0;

  constructor(
    readonly endpoints: Endpoint[],
    private readonly connectTo: (endpoint: Endpoint) => Promise<C>,
  ) {
    if (endpoints.length === 0) throw new SecureChatError('usage', 'No server to connect to.');
  }

  /** The node of the last successful dial. */
  get current(): Endpoint {
    return this.endpoints[this.preferred];
  }

  async dial(): Promise<C> {
    let last: SecureChatError | undefined;
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.preferred + i) % this.endpoints.length;
      try {
        const conn = await this.connectTo(this.endpoints[index]);
        this.preferred = index;
        return conn;
      } catch (err) {
        last = toSecureChatError(err);
        // Another node would refuse the same way: do not shop the credentials around.
        if (!isRetryableClose(last)) throw last;
      }
    }
    throw last ?? new SecureChatError('connect_failed');
  }
}
