/** Small numeric helpers for the benchmark: percentiles, timers and rounding. */

export function percentile(sortedAsc: number[], p: number): number {
  if (sortedAsc.length === 0) return NaN;
  const idx = Math.min(sortedAsc.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAsc.length) - 1));
  return sortedAsc[idx];
}

export function summarize(samplesUs: number[]): { n: number; p50: number; p99: number; mean: number } {
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean };
}

/** Monotonic microseconds. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `worker` in `concurrency` parallel loops until `deadlineUs` (or `maxOps` operations); returns the count. */
export async function runLoops(concurrency: number, deadlineUs: number, worker: () => Promise<void>, maxOps = Infinity): Promise<number> {
  let done = 0;
  let started = 0;
  const loop = async (): Promise<void> => {
    while (nowUs() < deadlineUs && started < maxOps) {
      started++;
      await worker();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return done;
}
