/**
 * A small transfer progress bar: bytes, percent and MB/s on one line of stderr. It draws only on a
 * terminal, so piped output and script mode stay clean.
 */
export interface ProgressState {
  label: string;
  done: number;
  /** Unknown while a download has not told us its size. */
  total?: number;
  elapsedMs: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** One line, e.g. `report.pdf [#########-----------]  45%  1.2 MiB/2.7 MiB  3.4 MB/s`. */
export function renderProgress(s: ProgressState, width = 20): string {
  const rate = s.elapsedMs > 0 ? s.done / 1e6 / (s.elapsedMs / 1000) : 0;
  const speed = `${rate.toFixed(1)} MB/s`;
  if (s.total === undefined || s.total <= 0) {
    const known = s.total === 0 ? '100%' : '';
    return `${s.label} ${formatBytes(s.done)}${known ? ` ${known}` : ''}  ${speed}`;
  }
  const frac = Math.min(1, Math.max(0, s.done / s.total));
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  return `${s.label} [${bar}] ${pct}  ${formatBytes(s.done)}/${formatBytes(s.total)}  ${speed}`;
}

interface TtyLike {
  isTTY?: boolean;
  write(s: string): boolean;
}

export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private total: number | undefined,
    private readonly stream: TtyLike = process.stderr,
  ) {
    this.enabled = Boolean(stream.isTTY);
  }

  update(done: number, total?: number): void {
    if (total !== undefined) this.total = total;
    if (!this.enabled) return;
    const now = Date.now();
    // Redrawing on every chunk would flood a slow terminal; ten frames a second is smooth enough.
    if (now - this.lastDraw < 100 && (this.total === undefined || done < this.total)) return;
    this.lastDraw = now;
    this.stream.write(`\r\x1b[K${renderProgress({ label: this.label, done, total: this.total, elapsedMs: now - this.started })}`);
  }

  /** Clears the bar's line so the caller's result line replaces it. */
  finish(): void {
    if (this.enabled) this.stream.write('\r\x1b[K');
  }
}
