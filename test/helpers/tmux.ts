/**
 * Drives a real terminal program through tmux: a private tmux server per test file (`-L` socket,
 * so parallel workers never share one), keys sent with send-keys, the screen read with
 * capture-pane. Waits are for screen content, never for a fixed time. CI installs tmux (.ci).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const CLI_ENTRY = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));

function tmuxInstalled(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * False when the terminal tests can run, else why not (for `test(…, { skip })`). With
 * SECURECHAT_TEST_REQUIRE_TMUX=1 (set by CI) a missing tmux fails instead of skipping.
 */
export function tmuxSkip(): string | false {
  if (tmuxInstalled()) return false;
  if (process.env.SECURECHAT_TEST_REQUIRE_TMUX === '1') throw new Error('tmux is required (SECURECHAT_TEST_REQUIRE_TMUX=1): apt-get install tmux');
  return 'tmux is not installed (CI installs it; apt-get install tmux)';
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class TmuxTerminal {
  private readonly socket = `sc-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly session = 'chat';
  private started = false;

  private tmux(args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Runs `node --import tsx src/cli/index.ts ARGS` in a 200×50 terminal; the pane stays after exit. */
  start(args: string[], env: Record<string, string>, cwd?: string): void {
    const envArgs = Object.entries({ ...env, TERM: 'xterm-256color' }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const cmd = [process.execPath, '--import', 'tsx', CLI_ENTRY, ...args].map(shellQuote).join(' ');
    // `; echo EXIT=$?` leaves the exit code on screen; `sleep` keeps the pane readable afterwards.
    const shell = `${cmd}; echo "[exit $?]"; sleep 600`;
    this.tmux(['new-session', '-d', '-x', '200', '-y', '50', '-s', this.session, ...envArgs, ...(cwd ? ['-c', cwd] : []), shell]);
    this.tmux(['set-option', '-t', this.session, 'history-limit', '5000']);
    this.started = true;
  }

  /** Types text literally (no key-name interpretation), optionally followed by Enter. */
  type(text: string, enter = true): void {
    if (text) this.tmux(['send-keys', '-t', this.session, '-l', text]);
    if (enter) this.tmux(['send-keys', '-t', this.session, 'Enter']);
  }

  /** Sends tmux key names: 'Tab', 'C-c', 'BSpace', … */
  keys(...names: string[]): void {
    this.tmux(['send-keys', '-t', this.session, ...names]);
  }

  /** The whole pane including scrollback, wrapped lines joined, trailing blanks trimmed. */
  screen(): string {
    return this.tmux(['capture-pane', '-p', '-J', '-S', '-', '-t', this.session])
      .split('\n')
      .map((l) => l.replace(/\s+$/, ''))
      .join('\n')
      .replace(/\n+$/, '');
  }

  /** Waits until the screen satisfies `pred` (polling capture-pane); fails with the screen. */
  async waitFor(pred: (screen: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = this.screen();
      if (pred(s)) return s;
      if (Date.now() > until) throw new Error(`terminal never showed ${what}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  waitForText(text: string | RegExp, timeoutMs?: number): Promise<string> {
    return this.waitFor((s) => (typeof text === 'string' ? s.includes(text) : text.test(s)), JSON.stringify(String(text)), timeoutMs);
  }

  /** The program's exit code once it has exited (the `[exit N]` line), else waits. */
  async exitCode(timeoutMs?: number): Promise<number> {
    const s = await this.waitFor((x) => /\[exit \d+\]/.test(x), 'the program exiting', timeoutMs);
    return Number(/\[exit (\d+)\]/.exec(s)?.[1]);
  }

  /** Kills the private tmux server (and so the program, if still running). */
  close(): void {
    if (!this.started) return;
    this.started = false;
    try {
      this.tmux(['kill-server']);
    } catch {
      // Already gone.
    }
  }
}
