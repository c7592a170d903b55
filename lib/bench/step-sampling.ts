/**
 * Where sampling runs, end to end: N concurrent top-p streams (top-p 0.9) on a small GPT-Neo-shaped
 * model with GPT-2's 50257-token vocabulary, so that choosing tokens weighs as much as the forward pass
 * (as on a GPU). The random weights give flat logits (standard deviation ~0.22 against ~3 for a trained
 * model); temperature 0.06 gives them the spread of the one-row sampling bench (sd 3 at temperature 0.8),
 * so that the nucleus has a realistic size (a few hundred tokens).
 * Each configuration runs with the TypeScript sampler forced (setStepSampler('typescript'): every
 * row's logits come to the Node thread), with the sampler in the native step one decode step per call
 * (runAhead 1) and with run-ahead (the default), and greedy (the native argmax, no sampling: the
 * engine's own floor), alternating within each repeat so all four see the same machine drift.
 *
 * Figures: generated tokens per second (all streams together), and the event loop's busy time per
 * decode step (every step of a run-ahead call counted) (performance.eventLoopUtilization's `active`, i.e. every millisecond the Node thread
 * was running JavaScript or native calls on it — sampling, packing, detokenizing, streaming), which
 * is the time an HTTP server sharing that thread cannot answer.
 */
import { performance } from 'node:perf_hooks';
import { loadModel } from '../model/load.js';
import type { GptNeoModel } from '../model/model.js';
import { setStepSampler, type StepSampler } from '../sampling/native-rows.js';
import { seconds, summarize, type Measurement } from './stats.js';
import { promptIds } from './workload.js';

export interface StepSamplingBenchOptions {
  /** A GPT-Neo checkpoint directory (the bench writes a small random one). */
  dir: string;
  threads: number;
  repeats: number;
  streams: readonly number[];
  newTokens: number;
}

/**
 * 'greedy': temperature 0 (argmax in the step), the floor the others are compared with. 'native-single':
 * the native sampler with one decode step per call (runAhead 1), to show what run-ahead adds.
 */
export type StepSamplingMode = StepSampler | 'native-single' | 'greedy';

export interface StepSamplingBenchRow {
  streams: number;
  mode: StepSamplingMode;
  tokensPerSecond: Measurement;
  busyMsPerStep: Measurement;
  /**
   * This mode's tok/s divided by the TypeScript sampler's in the same repeat (the two ran back to back),
   * one ratio per repeat: steadier than the ratio of medians on a machine whose speed drifts.
   */
  pairedSpeedup: Measurement;
}

/** The small model the bench writes: 2 layers, hidden 128, GPT-2's vocabulary. */
export const STEP_SAMPLING_MODEL = { preset: '125m', hiddenSize: 128, numLayers: 2, numHeads: 4 } as const;

/** Temperature that gives the random model's logits a trained model's spread (see above). */
export const STEP_SAMPLING_TEMPERATURE = 0.06;

async function run(model: GptNeoModel, streams: number, newTokens: number, seed: number, temperature: number):
  Promise<{ tokS: number; busyMs: number }> {
  const V = model.config.vocabSize;
  // Decode steps, counting every step of a run-ahead call.
  const decodeSteps = (): number => {
    const st = model.stats();
    return st.steps + st.runAhead.steps - st.runAhead.calls;
  };
  const steps0 = decodeSteps();
  const elu0 = performance.eventLoopUtilization();
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(Array.from({ length: streams }, (_, i) => model.generate(promptIds(8, seed + i, V),
    { maxNewTokens: newTokens, temperature, topP: 0.9, seed: seed + i, ignoreEos: true })));
  const elapsed = seconds(t0);
  const elu = performance.eventLoopUtilization(elu0);
  const steps = decodeSteps() - steps0;
  const tokens = results.reduce((a, r) => a + r.tokenIds.length, 0);
  return { tokS: tokens / elapsed, busyMs: elu.active / steps };
}

export async function runStepSamplingBench(o: StepSamplingBenchOptions): Promise<StepSamplingBenchRow[]> {
  const maxStreams = Math.max(...o.streams);
  const options = { device: 'cpu' as const, threads: o.threads, contextSize: 256,
    kvCacheTokens: maxStreams * (8 + o.newTokens + 16), maxBatchTokens: Math.max(256, maxStreams * 8), prefixCaching: false };
  const model = await loadModel(o.dir, options);
  const single = await loadModel(o.dir, { ...options, runAhead: 1 });
  const previous = setStepSampler('native');
  const rows: StepSamplingBenchRow[] = [];
  try {
    for (const streams of o.streams) {
      const modes = ['typescript', 'native-single', 'native', 'greedy'] as const;
      const samples = Object.fromEntries(modes.map((m) => [m, { tokS: [] as number[], busyMs: [] as number[] }]));
      for (let r = -1; r < o.repeats; r++) {  // r = -1: warm-up
        for (const mode of modes) {
          setStepSampler(mode === 'typescript' ? 'typescript' : 'native');
          const m = await run(mode === 'native-single' ? single : model, streams, o.newTokens, 1000 + 100 * r,
            mode === 'greedy' ? 0 : STEP_SAMPLING_TEMPERATURE);
          if (r < 0) continue;
          samples[mode]!.tokS.push(m.tokS);
          samples[mode]!.busyMs.push(m.busyMs);
        }
      }
      const base = samples.typescript!.tokS;
      for (const mode of modes) {
        const tokS = samples[mode]!.tokS;
        rows.push({ streams, mode, tokensPerSecond: summarize(tokS), busyMsPerStep: summarize(samples[mode]!.busyMs),
          pairedSpeedup: summarize(tokS.map((t, i) => t / base[i]!)) });
      }
    }
  } finally {
    setStepSampler(previous);
    await model.dispose();
    await single.dispose();
  }
  return rows;
}
