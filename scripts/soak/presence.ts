/**
 * Presence as the cluster soak judges it. The harness knows every session it opened (when its
 * login was sent, when it was answered, when the connection closed); a probe client on each node
 * asks `who` (one entry per session, cluster-wide) every PROBE_INTERVAL_MS. A `who` asked at tq and
 * answered at tr is **correct** when, for every soak user u, the number of entries for u lies within
 *
 *   lower(u) = sessions of u logged in (login answered) by tq and not closed before tr
 *   upper(u) = sessions of u whose login was sent before tr and not closed by tq
 *
 * An entry over upper(u) is **stale** (a session the harness saw die: the killed node's lease has
 * not run out); one under lower(u) is **missing** (a session that reconnected on another node, not
 * listed there yet). The probes' own sessions are not judged.
 *
 * **Convergence after an event** (a node SIGKILLed, the bus killed) at t0, observed until t1, on
 * the nodes that stayed up: per node, the tq of the first probe after the last incorrect one in
 * [t0, t1); the event's time is the latest of those, minus t0. Null when a node's last probe in the
 * window was still incorrect (or it had none). The same over "stale" only and "missing" only gives
 * when the dead sessions left every listing and when every reconnected user was listed again.
 */

export const PROBE_INTERVAL_MS = 250;
/** Probe answers kept (about 2 hours of three nodes at PROBE_INTERVAL_MS); later ones are not recorded. */
export const MAX_PROBES = 100_000;

export interface SessionSpan {
  user: string;
  /** The node it was opened on (for reports). */
  node: string;
  loginSent: number;
  loggedIn?: number;
  closed?: number;
}

export interface Probe {
  node: string;
  tq: number;
  tr: number;
  /** Users listed more often than they could have sessions. */
  stale: string[];
  /** Users listed less often than their established sessions. */
  missing: string[];
  /** The `who` request failed (counts as incorrect). */
  error?: string;
}

export class PresenceTruth {
  private readonly spans = new Map<string, SessionSpan[]>();
  readonly probes: Probe[] = [];

  constructor(private readonly users: readonly string[]) {}

  /** A login (or register) is about to be sent on a new connection of `user`. */
  begin(user: string, node: string, at = Date.now()): SessionSpan {
    const span: SessionSpan = { user, node, loginSent: at };
    let list = this.spans.get(user);
    if (!list) {
      list = [];
      this.spans.set(user, list);
    }
    list.push(span);
    return span;
  }

  loggedIn(span: SessionSpan, at = Date.now()): void {
    span.loggedIn ??= at;
  }

  closed(span: SessionSpan, at = Date.now()): void {
    span.closed ??= at;
  }

  sessionsOf(user: string): readonly SessionSpan[] {
    return this.spans.get(user) ?? [];
  }

  bounds(user: string, tq: number, tr: number): { lower: number; upper: number } {
    let lower = 0;
    let upper = 0;
    for (const s of this.spans.get(user) ?? []) {
      if (s.loginSent < tr && (s.closed === undefined || s.closed > tq)) upper++;
      if (s.loggedIn !== undefined && s.loggedIn <= tq && (s.closed === undefined || s.closed >= tr)) lower++;
    }
    return { lower, upper };
  }

  /** Judges one `who` answer (usernames, one per session) and records it. */
  record(node: string, tq: number, tr: number, listed: readonly string[] | Error): Probe {
    const probe: Probe = { node, tq, tr, stale: [], missing: [] };
    if (listed instanceof Error) {
      probe.error = listed.message;
    } else {
      const count = new Map<string, number>();
      for (const u of listed) count.set(u, (count.get(u) ?? 0) + 1);
      for (const u of this.users) {
        const n = count.get(u) ?? 0;
        const { lower, upper } = this.bounds(u, tq, tr);
        if (n > upper) probe.stale.push(u);
        else if (n < lower) probe.missing.push(u);
      }
    }
    if (this.probes.length < MAX_PROBES) this.probes.push(probe);
    return probe;
  }
}

export function probeCorrect(p: Probe): boolean {
  return p.error === undefined && p.stale.length === 0 && p.missing.length === 0;
}

/**
 * Seconds from t0 until `bad` stopped holding on every one of `nodes`, judged on the probes asked in
 * [t0, t1); null if some node was still bad at its last probe there or had none.
 */
export function convergedAfter(probes: readonly Probe[], nodes: readonly string[], t0: number, t1: number, bad: (p: Probe) => boolean): number | null {
  let latest = t0;
  for (const node of nodes) {
    const mine = probes.filter((p) => p.node === node && p.tq >= t0 && p.tq < t1).sort((a, b) => a.tq - b.tq);
    if (mine.length === 0) return null;
    let lastBad = -1;
    mine.forEach((p, i) => {
      if (bad(p)) lastBad = i;
    });
    if (lastBad === mine.length - 1) return null;
    if (lastBad >= 0) latest = Math.max(latest, mine[lastBad + 1].tq);
  }
  return (latest - t0) / 1000;
}

export interface PresenceConvergence {
  /** Every surviving node's `who` correct (neither stale nor missing), from then on. */
  convergedSeconds: number | null;
  /** No surviving node lists a session that died. */
  staleClearedSeconds: number | null;
  /** Every surviving node lists every session that was established. */
  listedAgainSeconds: number | null;
  /** How long after t0 presence was observed. */
  windowSeconds: number;
  observedOn: string[];
}

export function presenceAfter(probes: readonly Probe[], nodes: readonly string[], t0: number, t1: number): PresenceConvergence {
  return {
    convergedSeconds: convergedAfter(probes, nodes, t0, t1, (p) => !probeCorrect(p)),
    staleClearedSeconds: convergedAfter(probes, nodes, t0, t1, (p) => p.error !== undefined || p.stale.length > 0),
    listedAgainSeconds: convergedAfter(probes, nodes, t0, t1, (p) => p.error !== undefined || p.missing.length > 0),
    windowSeconds: (t1 - t0) / 1000,
    observedOn: [...nodes],
  };
}
