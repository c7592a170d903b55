/**
 * Exports a GPT-Neo checkpoint (config.json + model.safetensors, float32) as an ONNX model with a
 * KV cache, for onnxruntime as a benchmark peer. Standard opset-17 ops plus onnxruntime's
 * com.microsoft FastGelu (exactly gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))).
 *
 * GPT-Neo numerics (shared/DESIGN.md, fixtures/README.md): pre-LN blocks, q/k/v without bias, scores
 * q·kᵀ with NO 1/√headDim scaling, global and local (window) causal layers, tied lm_head (wte).
 * The masks are inputs: the caller adds {@link attentionBias} rows, so one graph serves prefill and
 * cached decode.
 *
 * Inputs                                             | Outputs
 * input_ids            int64 [batch, seq]           | logits            float [batch, seq, vocab]
 * position_ids         int64 [batch, seq]           | last_hidden_state float [batch, seq, hidden] (after ln_f)
 * attention_bias_global float [batch, 1, seq, total] | present_key_{l}   float [batch, heads, total, headDim]
 * attention_bias_local  float [batch, 1, seq, total] | present_value_{l} float [batch, heads, total, headDim]
 * past_key_{l}, past_value_{l} float [batch, heads, past, headDim]    (total = past + seq)
 * attention_bias_local exists only when the model has local layers. With `logits: false` the graph
 * has no lm_head and no logits output: onnxruntime computed the head even when logits were not
 * fetched (measured: no time saved), so an embeddings-only model leaves it out.
 */
import { open } from 'node:fs/promises';
import { GptNeoError } from '../../errors.js';
import { readGptNeoCheckpoint } from '../../model/checkpoint.js';
import type { GptNeoConfig } from '../../model/config.js';
import type { GptNeoWeight } from '../../model/weights.js';
import {
  OnnxType, tensorProto, valueInfo, writeOnnxModel, type OnnxNode, type ProtoMessage,
} from './onnx-proto.js';

/** Added to a masked score: exp(-1e9 - max) is exactly 0 in float32, and never NaN. */
export const MASKED = -1e9;

export interface GptNeoOnnxOptions {
  /** Include lm_head and the logits output. Default true. */
  logits?: boolean;
}

export interface GptNeoOnnxExport {
  path: string;
  config: GptNeoConfig;
  /** Bytes of the .onnx file. */
  bytes: number;
}

/** Reads one float32 tensor of the checkpoint (a fresh, aligned buffer). */
async function readF32(path: string, w: GptNeoWeight): Promise<Float32Array> {
  if (w.dtype !== 'F32') {
    throw new GptNeoError('ERR_GPTNEO_UNSUPPORTED', `ONNX export reads float32 checkpoints; ${w.name} is ${w.dtype}`,
      { hint: 'write the benchmark checkpoint with dtype float32' });
  }
  const out = new Float32Array(w.nbytes / 4);
  const fh = await open(path, 'r');
  try {
    const bytes = new Uint8Array(out.buffer);
    let at = 0;
    while (at < bytes.length) {
      const { bytesRead } = await fh.read(bytes, at, bytes.length - at, w.offset + at);
      if (bytesRead === 0) throw new GptNeoError('ERR_GPTNEO_BAD_CHECKPOINT', `${path}: ${w.name} is cut short`);
      at += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** [rows, cols] row-major → [cols, rows]: a Linear weight [out, in] becomes MatMul's [in, out]. */
function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c]!;
  return dst;
}

/**
 * Writes the ONNX model of the checkpoint in `checkpointDir` to `onnxPath` (weights as initializers).
 * @throws GptNeoError from the checkpoint reader, or ERR_GPTNEO_UNSUPPORTED for non-float32 weights
 */
export async function exportGptNeoOnnx(checkpointDir: string, onnxPath: string,
  options: GptNeoOnnxOptions = {}): Promise<GptNeoOnnxExport> {
  const withLogits = options.logits ?? true;
  const ckpt = await readGptNeoCheckpoint(checkpointDir);
  const c = ckpt.config;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const byName = new Map(ckpt.weights.tensors.map((w) => [w.name, w]));
  const weight = (name: string): Promise<Float32Array> => readF32(ckpt.file.path, byName.get(name)!);

  const nodes: OnnxNode[] = [];
  const initializers: ProtoMessage[] = [];
  const init = (name: string, dims: number[], data: Float32Array): string => {
    initializers.push(tensorProto(name, OnnxType.FLOAT, dims, data));
    return name;
  };
  const initInt64 = (name: string, values: number[]): string => {
    initializers.push(tensorProto(name, OnnxType.INT64, [values.length], BigInt64Array.from(values.map(BigInt))));
    return name;
  };
  const op = (opType: string, inputs: string[], output: string, attributes?: OnnxNode['attributes'], domain?: string): string => {
    nodes.push({ opType, inputs, outputs: [output], name: output, attributes, domain });
    return output;
  };
  /** x [.., in] · W [out, in]ᵀ (+ b): the Linear weight is stored transposed as [in, out]. */
  const linear = async (x: string, prefix: string, rows: number, cols: number, bias: boolean, out: string): Promise<string> => {
    const wT = init(`${prefix}.weight_t`, [cols, rows], transpose(await weight(`${prefix}.weight`), rows, cols));
    const y = op('MatMul', [x, wT], bias ? `${out}_nobias` : out);
    return bias ? op('Add', [y, init(`${prefix}.bias`, [rows], await weight(`${prefix}.bias`))], out) : y;
  };
  const layerNorm = async (x: string, prefix: string, out: string): Promise<string> =>
    op('LayerNormalization', [x, init(`${prefix}.weight`, [H], await weight(`${prefix}.weight`)),
      init(`${prefix}.bias`, [H], await weight(`${prefix}.bias`))], out, { axis: { int: -1 }, epsilon: { float: c.layerNormEpsilon } });

  const splitHeads = initInt64('shape_split_heads', [0, 0, c.numHeads, c.headDim]);  // [B, T, H] → [B, T, nH, hd]
  const mergeHeads = initInt64('shape_merge_heads', [0, 0, H]);                       // [B, T, nH, hd] → [B, T, H]
  const hasLocal = c.attentionLayers.includes('local');

  // Embeddings: h [B, T, H] = wte[ids] + wpe[pos].
  const wte = init('wte.weight', [c.vocabSize, H], await weight('wte.weight'));
  const wpe = init('wpe.weight', [c.maxPositionEmbeddings, H], await weight('wpe.weight'));
  let h = op('Add', [op('Gather', [wte, 'input_ids'], 'tok_emb', { axis: { int: 0 } }),
    op('Gather', [wpe, 'position_ids'], 'pos_emb', { axis: { int: 0 } })], 'h0');

  for (let l = 0; l < c.numLayers; l++) {
    const p = `h.${l}`;
    const a = `${p}.attn.attention`;
    const x = await layerNorm(h, `${p}.ln_1`, `${p}.ln_1_out`);
    // q/k/v [B, T, H] → [B, nH, T, hd].
    const heads = async (name: string): Promise<string> => op('Transpose',
      [op('Reshape', [await linear(x, `${a}.${name}_proj`, H, H, false, `${p}.${name}`), splitHeads], `${p}.${name}_split`)],
      `${p}.${name}_heads`, { perm: { ints: [0, 2, 1, 3] } });
    const q = await heads('q');
    const kNew = await heads('k');
    const vNew = await heads('v');
    const k = op('Concat', [`past_key_${l}`, kNew], `present_key_${l}`, { axis: { int: 2 } });    // [B, nH, S, hd]
    const v = op('Concat', [`past_value_${l}`, vNew], `present_value_${l}`, { axis: { int: 2 } });
    // scores [B, nH, T, S] = q · kᵀ, unscaled (GPT-Neo), plus the caller's causal/window bias [B, 1, T, S].
    const kT = op('Transpose', [k], `${p}.k_t`, { perm: { ints: [0, 1, 3, 2] } });
    const scores = op('MatMul', [q, kT], `${p}.scores`);
    const bias = c.attentionLayers[l] === 'local' ? 'attention_bias_local' : 'attention_bias_global';
    const probs = op('Softmax', [op('Add', [scores, bias], `${p}.scores_masked`)], `${p}.probs`, { axis: { int: -1 } });
    const ctx = op('Reshape', [op('Transpose', [op('MatMul', [probs, v], `${p}.ctx_heads`)], `${p}.ctx_t`,
      { perm: { ints: [0, 2, 1, 3] } }), mergeHeads], `${p}.ctx`);                                  // [B, T, H]
    h = op('Add', [h, await linear(ctx, `${a}.out_proj`, H, H, true, `${p}.attn_out`)], `${p}.h_attn`);
    // MLP: c_proj(gelu_new(c_fc(ln_2(h)))); FastGelu adds c_fc's bias itself.
    const x2 = await layerNorm(h, `${p}.ln_2`, `${p}.ln_2_out`);
    const fcT = init(`${p}.mlp.c_fc.weight_t`, [H, I], transpose(await weight(`${p}.mlp.c_fc.weight`), I, H));
    const fc = op('FastGelu', [op('MatMul', [x2, fcT], `${p}.fc`), init(`${p}.mlp.c_fc.bias`, [I], await weight(`${p}.mlp.c_fc.bias`))],
      `${p}.gelu`, undefined, 'com.microsoft');
    h = op('Add', [h, await linear(fc, `${p}.mlp.c_proj`, H, I, true, `${p}.mlp_out`)], `${p}.h_out`);
  }
  const last = await layerNorm(h, 'ln_f', 'last_hidden_state');
  // lm_head: tied to wte [V, H] unless the checkpoint has its own; logits = last · headᵀ.
  if (withLogits) {
    const headT = ckpt.weights.lmHeadTied
      ? op('Transpose', [wte], 'lm_head_t', { perm: { ints: [1, 0] } })
      : init('lm_head.weight_t', [H, c.vocabSize], transpose(await weight('lm_head.weight'), c.vocabSize, H));
    op('MatMul', [last, headT], 'logits');
  }

  const biasInfo = (name: string): ProtoMessage => valueInfo(name, OnnxType.FLOAT, ['batch', 1, 'seq', 'total']);
  const inputs = [
    valueInfo('input_ids', OnnxType.INT64, ['batch', 'seq']),
    valueInfo('position_ids', OnnxType.INT64, ['batch', 'seq']),
    biasInfo('attention_bias_global'),
    ...(hasLocal ? [biasInfo('attention_bias_local')] : []),
  ];
  const outputs = [
    ...(withLogits ? [valueInfo('logits', OnnxType.FLOAT, ['batch', 'seq', c.vocabSize])] : []),
    valueInfo('last_hidden_state', OnnxType.FLOAT, ['batch', 'seq', H]),
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const dims = (len: string): (string | number)[] => ['batch', c.numHeads, len, c.headDim];
    inputs.push(valueInfo(`past_key_${l}`, OnnxType.FLOAT, dims('past')), valueInfo(`past_value_${l}`, OnnxType.FLOAT, dims('past')));
    outputs.push(valueInfo(`present_key_${l}`, OnnxType.FLOAT, dims('total')), valueInfo(`present_value_${l}`, OnnxType.FLOAT, dims('total')));
  }
  const bytes = await writeOnnxModel(onnxPath, {
    irVersion: 8,
    opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    producer: 'gpt-neo-node',
    graph: { name: 'gpt_neo', nodes, initializers, inputs, outputs },
  });
  return { path: onnxPath, config: c, bytes };
}

/**
 * The additive attention bias [batch, 1, seq, past + seq] for rows at absolute positions
 * past … past+seq−1 of every sequence (all sequences the same length): 0 where query i may see
 * key j (j ≤ i, and for local layers j > i − window), {@link MASKED} elsewhere.
 */
export function attentionBias(batch: number, past: number, seq: number, window: number | undefined): Float32Array {
  const total = past + seq;
  const row = new Float32Array(seq * total);
  for (let t = 0; t < seq; t++) {
    const i = past + t;
    for (let j = 0; j < total; j++) {
      const visible = j <= i && (window === undefined || j > i - window);
      row[t * total + j] = visible ? 0 : MASKED;
    }
  }
  const out = new Float32Array(batch * row.length);
  for (let b = 0; b < batch; b++) out.set(row, b * row.length);
  return out;
}
