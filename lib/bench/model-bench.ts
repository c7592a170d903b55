/**
 * End-to-end model benchmarks on a GPT-Neo-shaped checkpoint: prefill (every position's logits,
 * as a full forward pass; and through the engine), decode at batch 1, aggregate decode with
 * several concurrent streams, and load time. Each figure is tokens (or sequences) per second.
 */
import { loadModel } from '../model/load.js';
import type { GptNeoModel } from '../model/model.js';
import type { WeightDType } from '../model/options.js';
import { measure, seconds, type Measurement } from './stats.js';
import { DECODE_SEED, DECODE_SEED_STEP, embedTexts, PREFILL_SEED, promptIds, rowNames, workload } from './workload.js';

export interface ModelBenchOptions {
  dir: string;
  dtype: WeightDType;
  threads: number;
  repeats: number;
  /** Smaller runs for a quick look (CI smoke). */
  quick?: boolean;
}

export interface ModelBenchRow {
  name: string;
  unit: string;
  result: Measurement;
  /** What limits the figure: 'bandwidth' (weights streamed once per step) or 'compute'. */
  bound?: { kind: 'bandwidth'; bytesPerStep: number; tokensPerStep: number } | { kind: 'compute'; flopsPerUnit: number };
}

/** Decode tokens/s of `streams` concurrent greedy generations (prompt 32, `newTokens` each). */
async function decodeRate(model: GptNeoModel, streams: number, newTokens: number, promptLen: number, seed: number): Promise<number> {
  // Time from the first generated token of every stream to the end, so prefill is excluded.
  const firstTokenAt: bigint[] = [];
  const start = process.hrtime.bigint();
  let decodeStart = start;
  const runs = Array.from({ length: streams }, async (_, i) => {
    let n = 0;
    for await (const _c of model.stream(promptIds(promptLen, seed + i, model.config.vocabSize),
      { maxNewTokens: newTokens, temperature: 0, ignoreEos: true })) {
      if (n++ === 0) {
        firstTokenAt.push(process.hrtime.bigint());
        if (firstTokenAt.length === streams) decodeStart = process.hrtime.bigint();
      }
    }
    return n;
  });
  const counts = await Promise.all(runs);
  const total = counts.reduce((a, b) => a + b, 0) - streams;  // tokens after each stream's first
  return total / seconds(decodeStart);
}

export async function runModelBench(o: ModelBenchOptions): Promise<{ rows: ModelBenchRow[]; loadMs: Measurement; weightBytes: number; backend: string }> {
  let flopsPerToken = 0;  // matrix FLOPs of one token through the blocks (no lm_head)
  let lmHeadFlops = 0;
  // No prefix cache: repeated prompts must be computed every time to be measured.
  const loadOpts = { device: 'cpu' as const, dtype: o.dtype, threads: o.threads, contextSize: 2048,
    kvCacheTokens: 32 * 256 + 4096, prefixCaching: false };
  const loadMs = await measure(async () => {
    const t = process.hrtime.bigint();
    const m = await loadModel(o.dir, loadOpts);
    const ms = seconds(t) * 1000;
    await m.dispose();
    return ms;
  }, o.quick ? 1 : 3, 1);
  const model = await loadModel(o.dir, loadOpts);
  const info = model.info();
  const rows: ModelBenchRow[] = [];
  const c = model.config;
  flopsPerToken = 2 * c.numLayers * (4 * c.hiddenSize * c.hiddenSize + 2 * c.hiddenSize * c.intermediateSize);
  lmHeadFlops = 2 * c.vocabSize * c.hiddenSize;
  try {
    const V = model.config.vocabSize;
    const w = workload(!!o.quick);
    const prefillLen = w.prefillLen;
    const ids = promptIds(prefillLen, PREFILL_SEED, V);
    rows.push({ name: rowNames.prefillForward(w), unit: 'tok/s',
      bound: { kind: 'compute', flopsPerUnit: flopsPerToken + lmHeadFlops },
      result: await measure(async () => {
        const t = process.hrtime.bigint();
        await model.forward(ids);
        return prefillLen / seconds(t);
      }, o.repeats) });
    rows.push({ name: `prefill ${prefillLen}, last logits only (generate 1 token)`, unit: 'tok/s',
      bound: { kind: 'compute', flopsPerUnit: flopsPerToken },
      result: await measure(async () => {
        const t = process.hrtime.bigint();
        await model.generate(ids, { maxNewTokens: 1, temperature: 0 });
        return prefillLen / seconds(t);
      }, o.repeats) });
    if (!o.quick) {
      rows.push({ name: 'prefill 4x128 (4 concurrent requests)', unit: 'tok/s',
        bound: { kind: 'compute', flopsPerUnit: flopsPerToken },
        result: await measure(async () => {
          const t = process.hrtime.bigint();
          await Promise.all([0, 1, 2, 3].map((i) => model.generate(promptIds(128, 100 + i, V), { maxNewTokens: 1, temperature: 0 })));
          return 512 / seconds(t);
        }, o.repeats) });
    }
    let seed = DECODE_SEED;
    for (const streams of w.streams) {
      rows.push({ name: rowNames.decode(w, streams), unit: 'tok/s',
        bound: { kind: 'bandwidth', bytesPerStep: info.weightBytes, tokensPerStep: streams },
        result: await measure(async () => decodeRate(model, streams, w.newTokens, w.decodePromptLen, (seed += DECODE_SEED_STEP)), o.repeats) });
    }
    const texts = embedTexts(w, V);
    rows.push({ name: rowNames.embeddings(w), unit: 'seq/s',
      bound: { kind: 'compute', flopsPerUnit: flopsPerToken * texts[0]!.length },
      result: await measure(async () => {
        const t = process.hrtime.bigint();
        await model.embed(texts);
        return texts.length / seconds(t);
      }, o.repeats) });
  } finally {
    await model.dispose();
  }
  return { rows, loadMs, weightBytes: info.weightBytes, backend: info.backend };
}
