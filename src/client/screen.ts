/**
 * The REPL's screen: lines printed above the prompt (the prompt and what you are typing are
 * redrawn below them, untouched), and lines re-written in place — a message's ✓ becoming ✓✓, the
 * "reconnecting…" line counting attempts. To re-write a line it must still be on screen: we count
 * the terminal rows printed since (wrapped lines take several) and give up when it scrolled off or
 * the new text would take a different number of rows; the caller then prints a short line instead.
 */
import { clearLine, cursorTo, moveCursor, type Interface } from 'node:readline';
import type { MutableOutput } from './prompt.js';

interface Entry {
  key: string | undefined;
  rows: number;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Terminal rows `text` takes at `columns` (ANSI colours take none; each \n starts a row). */
export function rowsOf(text: string, columns: number): number {
  const cols = Math.max(1, columns);
  return text
    .replace(ANSI, '')
    .split('\n')
    .reduce((n, part) => n + Math.max(1, Math.ceil([...part].length / cols)), 0);
}

export class ReplScreen {
  private entries: Entry[] = [];

  constructor(
    private readonly rl: Interface,
    private readonly output: NodeJS.WriteStream,
    private readonly out: MutableOutput,
  ) {}

  private get columns(): number {
    return this.output.columns || 80;
  }

  private get height(): number {
    return this.output.rows || 24;
  }

  /** Prints `line` above the prompt; `key` lets `update` re-write it later. */
  print(line: string, key?: string): void {
    if (this.out.muted) {
      // A hidden question is on the prompt line: print below it, and forget positions.
      this.output.write('\n' + line + '\n');
      this.entries = [];
      return;
    }
    clearLine(this.output, 0);
    cursorTo(this.output, 0);
    this.output.write(line + '\n');
    this.remember(key, rowsOf(line, this.columns));
    this.rl.prompt(true);
  }

  /**
   * readline left the line just entered (prompt + text) on screen; it is part of what scrolled.
   * With `erase` it is removed instead (a message line that will be shown as such).
   */
  entered(promptAndLine: string, erase: boolean): void {
    const rows = rowsOf(promptAndLine, this.columns);
    if (erase && this.output.isTTY && !this.out.muted) {
      // The cursor is on the fresh prompt row below the entered line.
      cursorTo(this.output, 0);
      moveCursor(this.output, 0, -rows);
      this.output.write('\x1b[J');
      this.rl.prompt(true);
      return;
    }
    this.remember(undefined, rows);
  }

  /** Re-writes the line printed with `key`, if it is still on screen; false when it cannot. */
  update(key: string, line: string): boolean {
    if (!this.output.isTTY || this.out.muted) return false;
    let i = this.entries.length - 1;
    while (i >= 0 && this.entries[i].key !== key) i--;
    if (i < 0) return false;
    const entry = this.entries[i];
    if (rowsOf(line, this.columns) !== entry.rows) return false;
    let up = entry.rows;
    for (let j = i + 1; j < this.entries.length; j++) up += this.entries[j].rows;
    if (up >= this.height - 1) return false;
    clearLine(this.output, 0);
    cursorTo(this.output, 0);
    moveCursor(this.output, 0, -up);
    this.output.write(line + '\x1b[K');
    cursorTo(this.output, 0);
    moveCursor(this.output, 0, up);
    this.rl.prompt(true);
    return true;
  }

  private remember(key: string | undefined, rows: number): void {
    this.entries.push({ key, rows });
    // Only what can still be on screen matters.
    let total = 0;
    let k = this.entries.length - 1;
    while (k >= 0 && total < this.height) total += this.entries[k--].rows;
    if (k >= 0) this.entries = this.entries.slice(k + 1);
  }
}
