/**
 * onnxruntime-node (CPU, fp32) as a peer in `npm run bench`: the same checkpoint exported to ONNX,
 * the same token ids, the same method as our figures (one warm-up, `repeats` runs, median and
 * spread), measured in the same run:
 *  - prefill: one forward of the whole prompt, logits for every position;
 *  - decode: `streams` prompts of equal length batched as B = streams, greedy argmax in JS, the KV
 *    cache grown by one position per step, timed from the first generated token (prefill excluded);
 *  - embeddings: one forward of all texts (B = texts), mean of the ln_f hidden states, unit length,
 *    through a second export without lm_head (as our embeddings path skips it).
 * Before any timing it checks that onnxruntime's logits for a prompt agree with ours.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../model/load.js';
import { measure, seconds, type Measurement } from '../stats.js';
import {
  DECODE_SEED, DECODE_SEED_STEP, embedTexts, PREFILL_SEED, promptIds, rowNames, workload, type Workload,
} from '../workload.js';
import { exportGptNeoOnnx } from './gpt-neo-onnx.js';
import { argmaxRow, loadOnnxRuntime, OrtGptNeo } from './ort-gpt-neo.js';

export interface PeerOptions {
  /** A float32 GPT-Neo checkpoint directory. */
  dir: string;
  threads: number;
  repeats: number;
  quick?: boolean;
  log?: (line: string) => void;
}

export interface PeerFigures {
  peer: string;
  /** Row name (as our rows) → the peer's figure. */
  rows: Map<string, Measurement>;
  /** Largest |our fp32 logit − the peer's| over every position of a 32-token prompt. */
  logitsMaxAbsDiff: number;
  /** Largest |logit| of ours on that prompt, for scale. */
  logitsMaxAbs: number;
  exportMs: number;
  onnxBytes: number;
}

export type PeerOutcome = { ok: PeerFigures } | { skipped: string };

/**
 * Relative agreement the logits must reach before the peer's figures are reported: fp32 against
 * fp32 with different summation orders differs by ~1e-5 of the logit scale; a wrong export by O(1).
 */
export const LOGITS_AGREEMENT = 1e-3;

async function decodeRate(m: OrtGptNeo, w: Workload, streams: number, seed: number): Promise<number> {
  const V = m.config.vocabSize;
  const prompts = Array.from({ length: streams }, (_, i) => promptIds(w.decodePromptLen, seed + i, V));
  let step = await m.step(prompts, m.emptyCache(streams));
  const T = w.decodePromptLen;
  let next = prompts.map((_, b) => argmaxRow(step.logits, b * T + T - 1, V));  // every stream's first token
  const start = process.hrtime.bigint();
  for (let n = 1; n < w.newTokens; n++) {
    step = await m.step(next.map((id) => [id]), step.cache);
    next = next.map((_, b) => argmaxRow(step.logits, b, V));
  }
  return streams * (w.newTokens - 1) / seconds(start);
}

/** Mean over the sequence of each row of hidden [batch, seq, width], scaled to unit length (as our embed()). */
export function meanPoolNormalized(hidden: Float32Array, batch: number, seq: number, width: number): Float32Array[] {
  return Array.from({ length: batch }, (_, b) => {
    const v = new Float32Array(width);
    for (let t = 0; t < seq; t++) {
      const row = hidden.subarray((b * seq + t) * width, (b * seq + t + 1) * width);
      for (let i = 0; i < width; i++) v[i] += row[i]!;
    }
    let norm = 0;
    for (let i = 0; i < width; i++) { v[i] /= seq; norm += v[i]! * v[i]!; }
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let i = 0; i < width; i++) v[i] *= scale;
    return v;
  });
}

/** Our fp32 logits [32, vocab] for the agreement prompt. */
async function ourLogits(dir: string, threads: number, ids: number[]): Promise<Float32Array> {
  const model = await loadModel(dir, { device: 'cpu', dtype: 'float32', threads, contextSize: 2048, prefixCaching: false });
  try {
    return await model.forward(ids);
  } finally {
    await model.dispose();
  }
}

/** Largest |a − b| (NaN if any is NaN) and largest |a|. */
function agreement(ours: Float32Array, peer: Float32Array): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i]! - peer[i]!);
    diff = d > diff || Number.isNaN(d) ? d : diff;
    scale = Math.max(scale, Math.abs(ours[i]!));
  }
  return { diff, scale };
}

/** The logits check, then prefill and decode figures, on the model with lm_head. */
async function logitsFigures(m: OrtGptNeo, o: PeerOptions, w: Workload): Promise<{ rows: Map<string, Measurement>; diff: number; scale: number } | { skipped: string }> {
  const V = m.config.vocabSize;
  const checkIds = promptIds(32, PREFILL_SEED, V);
  const { diff, scale } = agreement(await ourLogits(o.dir, o.threads, checkIds), (await m.step([checkIds], m.emptyCache(1))).logits);
  o.log?.(`onnxruntime fp32 logits vs ours on a 32-token prompt: max |diff| ${diff.toExponential(2)} (max |logit| ${scale.toFixed(2)})`);
  if (!(diff <= LOGITS_AGREEMENT * Math.max(1, scale))) {
    return { skipped: `onnxruntime's logits differ from ours by ${diff} (allowed ${LOGITS_AGREEMENT} × max(1, ${scale.toFixed(2)})): ` +
      'the export is wrong, so its figures would mean nothing' };
  }
  const rows = new Map<string, Measurement>();
  const prefill = promptIds(w.prefillLen, PREFILL_SEED, V);
  rows.set(rowNames.prefillForward(w), await measure(async () => {
    const t = process.hrtime.bigint();
    await m.step([prefill], m.emptyCache(1));
    return w.prefillLen / seconds(t);
  }, o.repeats));
  let seed = DECODE_SEED;
  for (const streams of w.streams) {
    rows.set(rowNames.decode(w, streams), await measure(async () => decodeRate(m, w, streams, (seed += DECODE_SEED_STEP)), o.repeats));
  }
  return { rows, diff, scale };
}

/** Embeddings figure on the model without lm_head. */
async function embeddingsFigure(m: OrtGptNeo, o: PeerOptions, w: Workload): Promise<Measurement> {
  const texts = embedTexts(w, m.config.vocabSize);
  return measure(async () => {
    const t = process.hrtime.bigint();
    const out = await m.step(texts, m.emptyCache(texts.length), { logits: false, hidden: true });
    meanPoolNormalized(out.lastHidden, texts.length, w.embedLen, m.config.hiddenSize);
    return texts.length / seconds(t);
  }, o.repeats);
}

/** Measures onnxruntime's figures, or says why it was skipped. */
export async function runOnnxRuntimePeer(o: PeerOptions): Promise<PeerOutcome> {
  const loaded = await loadOnnxRuntime();
  if ('missing' in loaded) return { skipped: loaded.missing };
  const w = workload(!!o.quick);
  const tmp = await mkdtemp(join(tmpdir(), 'gpt-neo-onnx-'));
  // One session at a time: each holds its own copy of the weights.
  const withSession = async <T>(logits: boolean, fn: (m: OrtGptNeo) => Promise<T>): Promise<T & { exportMs: number; bytes: number }> => {
    const t = process.hrtime.bigint();
    const exported = await exportGptNeoOnnx(o.dir, join(tmp, logits ? 'model.onnx' : 'model-no-head.onnx'), { logits });
    const exportMs = seconds(t) * 1000;
    o.log?.(`onnxruntime-node ${loaded.ort.env.versions.node ?? '?'}: ONNX export${logits ? '' : ' without lm_head'} ` +
      `${(exported.bytes / 1e6).toFixed(0)} MB written in ${exportMs.toFixed(0)} ms`);
    const m = await OrtGptNeo.create(loaded.ort, exported.path, exported.config, o.threads);
    try {
      return { ...(await fn(m)), exportMs, bytes: exported.bytes };
    } finally {
      await m.release();
    }
  };
  try {
    const main = await withSession(true, async (m) => ({ result: await logitsFigures(m, o, w) }));
    if ('skipped' in main.result) return { skipped: main.result.skipped };
    const { rows, diff, scale } = main.result;
    const embed = await withSession(false, async (m) => ({ figure: await embeddingsFigure(m, o, w) }));
    rows.set(rowNames.embeddings(w), embed.figure);
    return { ok: { peer: 'onnxruntime', rows, logitsMaxAbsDiff: diff, logitsMaxAbs: scale, exportMs: main.exportMs, onnxBytes: main.bytes } };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
