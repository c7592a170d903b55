/**
 * The host's cost per decode step: greedy generation on the 'tiny' random GPT-Neo (4 layers, hidden 64,
 * vocabulary 512), whose forward pass takes a few microseconds, so microseconds per token are almost all
 * engine bookkeeping, argument packing, the hand-off to the model's native thread and the way back.
 * Measured twice, in alternating repeats (this machine's speed drifts): one decode step per native call
 * (runAhead 1), and with the default greedy run-ahead, which takes several steps per call.
 */
import { DEFAULT_RUN_AHEAD } from '../engine/run-ahead.js';
import { loadModel } from '../model/load.js';
import { seconds, summarize, type Measurement } from './stats.js';

export interface StepOverhead {
  /** Microseconds per generated token with one decode step per native call. */
  singleStep: Measurement;
  /** The same with the default run-ahead. */
  runAhead: Measurement;
  /** Decode steps per native call in the run-ahead runs (calls that took several). */
  stepsPerCall: number;
}

/** One stream, greedy, 8 x 120 tokens per repeat after a warm-up, both ways alternately. */
export async function runStepOverheadBench(dir: string, repeats: number): Promise<StepOverhead> {
  await using single = await loadModel(dir, { device: 'cpu', threads: 1, runAhead: 1 });
  await using ahead = await loadModel(dir, { device: 'cpu', threads: 1, runAhead: DEFAULT_RUN_AHEAD });
  const tokens = 120;  // the tiny model's context is 128 positions
  const opts = { maxNewTokens: tokens, temperature: 0, ignoreEos: true } as const;
  const time = async (model: typeof single): Promise<number> => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 8; i++) await model.generate([1, 2], opts);
    return seconds(t0) * 1e6 / (8 * tokens);
  };
  for (let i = 0; i < 5; i++) {
    await single.generate([1, 2], opts);
    await ahead.generate([1, 2], opts);
  }
  const before = ahead.stats().runAhead;
  const singleUs: number[] = [];
  const aheadUs: number[] = [];
  for (let r = 0; r < Math.max(repeats, 5); r++) {
    singleUs.push(await time(single));
    aheadUs.push(await time(ahead));
  }
  const after = ahead.stats().runAhead;
  const calls = after.calls - before.calls;
  return { singleStep: summarize(singleUs), runAhead: summarize(aheadUs),
    stepsPerCall: calls > 0 ? (after.steps - before.steps) / calls : 1 };
}
