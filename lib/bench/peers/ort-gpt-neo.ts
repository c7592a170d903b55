/**
 * Runs an exported GPT-Neo ONNX model ({@link exportGptNeoOnnx}) in onnxruntime-node on the CPU:
 * a batch of equal-length sequences through one step, with the KV cache (ORT tensors) carried from
 * step to step. onnxruntime-node is an optional peer: {@link loadOnnxRuntime} says why it is missing.
 */
import type * as Ort from 'onnxruntime-node';
import type { GptNeoConfig } from '../../model/config.js';
import { attentionBias } from './gpt-neo-onnx.js';

export type OnnxRuntime = typeof Ort;

/** onnxruntime-node, or the reason it cannot be used (not installed, or its binary fails to load). */
export async function loadOnnxRuntime(): Promise<{ ort: OnnxRuntime } | { missing: string }> {
  try {
    const mod = (await import('onnxruntime-node')) as OnnxRuntime & { default?: OnnxRuntime };
    return { ort: mod.InferenceSession ? mod : mod.default! };
  } catch (e) {
    const code = (e as { code?: string }).code;
    return { missing: code === 'ERR_MODULE_NOT_FOUND'
      ? 'onnxruntime-node is not installed (npm install --save-dev onnxruntime-node)'
      : `onnxruntime-node failed to load: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** The per-layer K and V of every sequence: present_key_{l} / present_value_{l} [batch, heads, len, headDim]. */
export interface OrtKvCache {
  tensors: Record<string, Ort.Tensor>;
  length: number;
}

export interface OrtStepResult {
  /** [batch, seq, vocab]. */
  logits: Float32Array;
  /** [batch, seq, hidden], after ln_f. */
  lastHidden: Float32Array;
  cache: OrtKvCache;
}

export class OrtGptNeo {
  private constructor(private readonly ort: OnnxRuntime, readonly session: Ort.InferenceSession, readonly config: GptNeoConfig) {}

  /** A CPU session with every graph optimization onnxruntime has, on `threads` intra-op threads. */
  static async create(ort: OnnxRuntime, onnxPath: string, config: GptNeoConfig, threads: number): Promise<OrtGptNeo> {
    const session = await ort.InferenceSession.create(onnxPath, {
      executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    return new OrtGptNeo(ort, session, config);
  }

  /** An empty cache for `batch` sequences. */
  emptyCache(batch: number): OrtKvCache {
    const c = this.config;
    const tensors: Record<string, Ort.Tensor> = {};
    for (let l = 0; l < c.numLayers; l++) {
      for (const kind of ['key', 'value']) {
        tensors[`present_${kind}_${l}`] = new this.ort.Tensor('float32', new Float32Array(0), [batch, c.numHeads, 0, c.headDim]);
      }
    }
    return { tensors, length: 0 };
  }

  /**
   * One step: `ids` [batch][seq] (every row the same length) at positions cache.length … ; returns
   * every position's logits and hidden states and the grown cache.
   * @param outputs which of logits / last_hidden_state to fetch (the cache is always fetched)
   */
  async step(ids: ReadonlyArray<ArrayLike<number>>, cache: OrtKvCache,
    outputs: { logits?: boolean; hidden?: boolean } = { logits: true }): Promise<OrtStepResult> {
    const c = this.config;
    const batch = ids.length;
    const seq = ids[0]!.length;
    const past = cache.length;
    const tokens = new BigInt64Array(batch * seq);
    const positions = new BigInt64Array(batch * seq);
    ids.forEach((row, b) => {
      if (row.length !== seq) throw new RangeError('every sequence of a batch must have the same length');
      for (let t = 0; t < seq; t++) {
        tokens[b * seq + t] = BigInt(row[t]!);
        positions[b * seq + t] = BigInt(past + t);
      }
    });
    const T = this.ort.Tensor;
    const feeds: Record<string, Ort.Tensor> = {
      input_ids: new T('int64', tokens, [batch, seq]),
      position_ids: new T('int64', positions, [batch, seq]),
      attention_bias_global: new T('float32', attentionBias(batch, past, seq, undefined), [batch, 1, seq, past + seq]),
    };
    if (this.session.inputNames.includes('attention_bias_local')) {
      feeds.attention_bias_local = new T('float32', attentionBias(batch, past, seq, c.windowSize), [batch, 1, seq, past + seq]);
    }
    const fetches: string[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      for (const kind of ['key', 'value']) {
        feeds[`past_${kind}_${l}`] = cache.tensors[`present_${kind}_${l}`]!;
        fetches.push(`present_${kind}_${l}`);
      }
    }
    if (outputs.logits) fetches.push('logits');
    if (outputs.hidden) fetches.push('last_hidden_state');
    const out = await this.session.run(feeds, fetches);
    const tensors: Record<string, Ort.Tensor> = {};
    for (let l = 0; l < c.numLayers; l++) {
      for (const kind of ['key', 'value']) tensors[`present_${kind}_${l}`] = out[`present_${kind}_${l}`]!;
    }
    return {
      logits: outputs.logits ? out.logits!.data as Float32Array : new Float32Array(0),
      lastHidden: outputs.hidden ? out.last_hidden_state!.data as Float32Array : new Float32Array(0),
      cache: { tensors, length: past + seq },
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Index of the largest value of row `row` of a [rows, width] matrix (first one on ties). */
export function argmaxRow(data: Float32Array, row: number, width: number): number {
  let best = 0;
  let bestValue = -Infinity;
  const base = row * width;
  for (let v = 0; v < width; v++) {
    const x = data[base + v]!;
    if (x > bestValue) { bestValue = x; best = v; }
  }
  return best;
}
