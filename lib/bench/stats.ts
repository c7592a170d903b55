/** Timing helpers for benchmarks: warm-up, repeats, median and spread. */
export interface Measurement {
  /** Median of the repeats, in the unit of the measured function's result. */
  median: number;
  /** (max - min) / median of the repeats. */
  spread: number;
  samples: number[];
}

export function summarize(samples: number[]): Measurement {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const spread = median === 0 ? 0 : (sorted[sorted.length - 1]! - sorted[0]!) / median;
  return { median, spread, samples };
}

/** Runs fn `warmup` times unmeasured, then `repeats` times; fn returns the figure of one run. */
export async function measure(fn: () => Promise<number>, repeats: number, warmup = 1): Promise<Measurement> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) samples.push(await fn());
  return summarize(samples);
}

export const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;
