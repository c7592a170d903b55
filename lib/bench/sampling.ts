/**
 * Sampling benchmark: choosing one token from a GPT-2-sized row of logits (50257 values, Gaussian
 * with standard deviation 3, roughly the spread of GPT-Neo's logits) with the common option sets,
 * on the native kernels and on their TypeScript references in the same run. Figures are
 * microseconds per row; the engine spends this on the Node thread for every sampled sequence of
 * every step.
 */
import { Rng } from '../sampling/rng.js';
import { createSamplingState, sampleToken } from '../sampling/sample.js';
import { SamplingScratch } from '../sampling/scratch.js';
import { validateSamplingOptions, type SamplingOptions } from '../sampling/options.js';
import { nativeKernels, setSamplingKernels, typescriptKernels, type SamplingKernels } from '../sampling/kernels.js';
import { summarize } from './stats.js';

export interface SamplingBenchRow {
  name: string;
  /** Median microseconds per row with the native kernels. */
  nativeUs: number;
  /** The same with the TypeScript kernels. */
  typescriptUs: number;
  spread: number;
  typescriptSpread: number;
}

const VOCAB = 50257;
const CASES: Array<[string, SamplingOptions]> = [
  ['greedy with repetition penalty', { temperature: 0, repetitionPenalty: 1.1 }],
  ['temperature 1 (every token)', { temperature: 1 }],
  ['top-k 50', { temperature: 1, topK: 50 }],
  ['top-p 0.9, temperature 0.8', { temperature: 0.8, topP: 0.9 }],
  ['min-p 0.05', { temperature: 1, minP: 0.05 }],
];

/** A seeded row of Gaussian logits (Box–Muller on the sampler's own generator). */
export function gaussianRow(length: number, seed: number, sd: number): Float32Array {
  const rng = Rng.fromSeed(seed);
  return Float32Array.from({ length }, () => sd * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
}

/** Microseconds per sampled row, median of `repeats` timed passes over the rows. */
function timeRows(kernels: SamplingKernels, options: SamplingOptions, rows: Float32Array[], repeats: number): number[] {
  const previous = setSamplingKernels(kernels);
  try {
    const opts = validateSamplingOptions({ ...options, seed: 1 }, { vocabSize: VOCAB });
    const state = createSamplingState(Rng.fromSeed(1), Array.from({ length: 64 }, (_, i) => i * 97));
    const scratch = new SamplingScratch();
    for (const row of rows) sampleToken(row, opts, state, scratch);  // warm-up (and JIT)
    const samples: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = process.hrtime.bigint();
      for (const row of rows) sampleToken(row, opts, state, scratch);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e3 / rows.length);
    }
    return samples;
  } finally {
    setSamplingKernels(previous);
  }
}

export function runSamplingBench(repeats: number): SamplingBenchRow[] {
  const native = nativeKernels();
  if (!native) return [];
  const rows = Array.from({ length: 16 }, (_, i) => gaussianRow(VOCAB, 20261126 + i, 3));
  return CASES.map(([name, options]) => {
    const n = summarize(timeRows(native, options, rows, Math.max(repeats, 3)));
    const t = summarize(timeRows(typescriptKernels, options, rows, Math.max(repeats, 3)));
    return { name, nativeUs: n.median, typescriptUs: t.median, spread: n.spread, typescriptSpread: t.spread };
  });
}
