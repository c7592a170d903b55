/**
 * The host's cost per decode step: greedy generation on the 'tiny' random GPT-Neo (4 layers, hidden 64,
 * vocabulary 512), whose forward pass takes a few microseconds, so microseconds per token are almost all
 * engine bookkeeping, argument packing, the hand-off to the model's native thread and the way back.
 */
import { loadModel } from '../model/load.js';
import { seconds, summarize, type Measurement } from './stats.js';

/** Microseconds per generated token (one stream, greedy, 8 x 120 tokens per repeat after a warm-up). */
export async function runStepOverheadBench(dir: string, repeats: number): Promise<Measurement> {
  await using model = await loadModel(dir, { device: 'cpu', threads: 1 });
  const tokens = 120;  // the tiny model's context is 128 positions
  const opts = { maxNewTokens: tokens, temperature: 0, ignoreEos: true } as const;
  for (let i = 0; i < 5; i++) await model.generate([1, 2], opts);
  const us: number[] = [];
  for (let r = 0; r < Math.max(repeats, 5); r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 8; i++) await model.generate([1, 2], opts);
    us.push(seconds(t0) * 1e6 / (8 * tokens));
  }
  return summarize(us);
}
