/** Turns phase results into rows with their targets, and prints them as a table or as JSON. */
import { round } from './stats.js';

export interface Row {
  id: string;
  figure: string;
  ours: string;
  baseline: string;
  serverCpu: string;
  target: string;
  /** null: no target, or the figure could not be measured. */
  met: boolean | null;
  values: Record<string, number | string | null>;
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return round(n, digits).toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function verdict(met: boolean | null): string {
  return met === null ? '—' : met ? 'met' : 'MISSED';
}

export function renderTable(rows: Row[]): string {
  const header = ['#', 'figure', 'SecureChat', 'baseline (same run)', 'server CPU / op', 'target', 'result'];
  const lines = rows.map((r, i) => [String(i + 1), r.figure, r.ours, r.baseline, r.serverCpu, r.target, verdict(r.met)]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)));
  const line = (cells: string[]): string => `| ${cells.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(line)].join('\n');
}
