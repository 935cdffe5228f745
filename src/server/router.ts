/**
 * The declarative command table (after ergo): each command names its login requirement, its
 * parameter schema and its handler. Preconditions are checked here, once, before any handler runs,
 * and this is the one place that turns an error into a wire reply.
 */
import { SecureChatError, toSecureChatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AppMessage } from '../protocol/types.js';
import type { ServerObserver } from './metrics.js';
import { validateParams, type Params, type Schema } from './schema.js';

export interface RoutedSession {
  readonly loggedIn: boolean;
  readonly username: string;
  send(msg: AppMessage, data?: Buffer): boolean;
  /** Flow control: throws rate_limited, else reserves `bytes` until `settle`. */
  admit(cost: number, bytes: number): void;
  settle(bytes: number): void;
  /**
   * Resolves once the session's send backlog is under its bound (at once if it is); false if the
   * session closed meanwhile. Optional: sessions without a send path bound never wait.
   */
  untilWritable?(): Promise<boolean>;
  /** Runs `work` after the session's earlier serial work has finished (one at a time, in order). */
  serially?<T>(work: () => Promise<T>): Promise<T>;
}

export interface CommandSpec<Ctx, S extends Schema = Schema> {
  type: string;
  /** 'login': only after a successful login; 'handshake': any session with a valid certificate. */
  requires: 'login' | 'handshake';
  schema: S;
  /**
   * True for commands whose responses are large (history pages): one runs at a time per session,
   * each only once the send backlog is under its bound, so a session holds one of them in memory
   * being built, not maxConcurrentRequests of them.
   */
  serial?: boolean;
  /** True when the request carries binary data (file chunks); otherwise binary data is refused. */
  binary?: boolean;
  /**
   * Rate-limit tokens the request costs, in proportion to its work (default 1): a number, or a
   * function of the validated parameters and binary data (a chunk's bytes, a history page's size).
   */
  cost?: number | ((params: Params<S>, data: Buffer | undefined) => number);
  handler: (ctx: Ctx, params: Params<S>, data: Buffer | undefined) => Promise<unknown> | unknown;
}

/** Helper that keeps the schema's inferred parameter type attached to its handler. */
export function command<Ctx, S extends Schema>(spec: CommandSpec<Ctx, S>): CommandSpec<Ctx, Schema> {
  return spec as unknown as CommandSpec<Ctx, Schema>;
}

const MAX_REQUEST_ID = 2 ** 53 - 1;

export class Router<Ctx extends { session: RoutedSession }> {
  private readonly table = new Map<string, CommandSpec<Ctx, Schema>>();

  constructor(
    commands: CommandSpec<Ctx, Schema>[],
    private readonly log: Logger,
    private readonly observer?: ServerObserver,
  ) {
    for (const spec of commands) {
      if (this.table.has(spec.type)) throw new Error(`duplicate command ${spec.type}`);
      this.table.set(spec.type, spec);
    }
  }

  get commandTypes(): string[] {
    return [...this.table.keys()];
  }

  /** Runs one request and sends exactly one `response` for it. Never throws. */
  async dispatch(ctx: Ctx, msg: AppMessage, data: Buffer | undefined): Promise<void> {
    const bytes = (data?.length ?? 0) + 256;
    let admitted = false;
    const id = typeof msg.id === 'number' && Number.isSafeInteger(msg.id) && msg.id >= 0 && msg.id <= MAX_REQUEST_ID ? msg.id : null;
    try {
      if (id === null) throw new SecureChatError('malformed', 'Every request needs an integer "id".');
      const spec = this.table.get(msg.type);
      if (!spec) throw new SecureChatError('unknown_command', `Unknown command "${String(msg.type).slice(0, 40)}".`);
      if (spec.requires === 'login' && !ctx.session.loggedIn) throw new SecureChatError('not_logged_in');
      if (data !== undefined && !spec.binary) throw new SecureChatError('bad_request', `"${spec.type}" takes no binary data.`);
      const params = validateParams(spec.schema, msg);
      ctx.session.admit(typeof spec.cost === 'function' ? spec.cost(params, data) : (spec.cost ?? 1), bytes);
      admitted = true;
      // No new work for a session that is not reading what it was sent (DESIGN §6): requests it
      // pipelined wait here, so a client that never reads cannot make the server build response
      // after response (each one a page of history, say) beyond the send bound.
      const run = async (): Promise<unknown> => {
        if (ctx.session.untilWritable && !(await ctx.session.untilWritable())) throw new SecureChatError('connection_closed');
        return spec.handler(ctx, params, data);
      };
      const result = spec.serial && ctx.session.serially ? await ctx.session.serially(run) : await run();
      ctx.session.send({ type: 'response', id, ok: true, result: result ?? null });
      this.observer?.request(msg.type, 'ok');
    } catch (err) {
      let scErr = toSecureChatError(err);
      if (!admitted && scErr.code !== 'rate_limited') {
        // Refused before its own price was paid (unknown command, bad parameters…): still not free.
        try {
          ctx.session.admit(1, 0);
        } catch (rateErr) {
          scErr = toSecureChatError(rateErr);
        }
      }
      if (scErr.code === 'internal') {
        this.log.error('handler failed', { command: msg.type, user: ctx.session.username, error: String((err as Error)?.stack ?? err) });
      } else {
        // A flood of refusals must not become a flood of log lines: rate_limited goes to debug.
        this.log.log(scErr.code === 'rate_limited' ? 'debug' : 'info', 'request refused', { command: msg.type, user: ctx.session.username, code: scErr.code, reason: scErr.reason });
      }
      ctx.session.send({ type: 'response', id, ok: false, error: scErr.toJSON() });
      this.observer?.request(this.table.has(msg.type) ? msg.type : 'unknown', scErr.code);
    } finally {
      if (admitted) ctx.session.settle(bytes);
    }
  }
}
