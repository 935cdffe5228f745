/**
 * Start-up cost of the shipped program (issue 13), before / after "run what was built":
 *   - `securechat --help` wall time, median of N runs: the TypeScript sources through tsx (what the
 *     installed bin used to fall back to) vs the compiled dist/ with lazily loaded commands;
 *   - idle server RSS a few seconds after "listening", summed over the process tree: `npm start` as
 *     it was (npm → sh → tsx → node on the sources) vs `node dist/cli/index.js serve`.
 * Usage: npm run bench:startup [-- --runs 15]   (needs `npm run build` first; prints a Markdown table)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 11;
if (!existsSync(join(root, 'dist/cli/index.js'))) throw new Error('dist/ is missing: run `npm run build` first');

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function helpMs(cmd: string, args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd: root, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

/** RSS (kB) of `pid` and all its descendants, from /proc. */
function treeRssKb(pid: number): { kb: number; processes: number } {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  let kb = 0;
  let processes = 0;
  const walk = (p: number): void => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += m ? Number(m[1]) : 0;
      processes++;
    } catch {
      return;
    }
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return { kb, processes };
}

async function idleRss(cmd: string, args: string[]): Promise<{ kb: number; processes: number }> {
  const work = mkdtempSync(join(tmpdir(), 'securechat-startup-'));
  try {
    const child = spawn(cmd, [...args, '--port', '0', '--certs', join(work, 'certs'), '--db', `sqlite:${join(work, 'chat.db')}`, '--log-file', 'off'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 120_000;
    while (!/listening on/.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Idle: let start-up garbage settle.
    await new Promise((r) => setTimeout(r, 3000));
    const rss = treeRssKb(child.pid!);
    process.kill(-child.pid!, 'SIGTERM');
    await new Promise((r) => child.once('exit', r));
    return rss;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const tsx = join(root, 'node_modules/.bin/tsx');
const beforeHelp = helpMs(tsx, ['src/cli/index.ts', '--help']);
const afterHelp = helpMs(process.execPath, ['dist/cli/index.js', '--help']);
const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
// `npm start` before issue 13 was `tsx src/cli/index.ts serve` under npm and sh.
const beforeRss = await idleRss(npm, ['exec', '--', 'tsx', 'src/cli/index.ts', 'serve']);
const afterRss = await idleRss(process.execPath, ['dist/cli/index.js', 'serve']);
const mb = (kb: number): string => (kb / 1024).toFixed(0);
console.log(`| | before (tsx on the sources) | after (dist/, lazy commands) |`);
console.log(`|---|---|---|`);
console.log(`| \`securechat --help\` (median of ${RUNS}) | ${beforeHelp.toFixed(0)} ms | ${afterHelp.toFixed(0)} ms |`);
console.log(`| idle server RSS (process tree) | ${mb(beforeRss.kb)} MB in ${beforeRss.processes} processes | ${mb(afterRss.kb)} MB in ${afterRss.processes} process(es) |`);
