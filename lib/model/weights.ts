/**
 * The GPT-Neo tensor table: which tensors a checkpoint must hold for a given config, with which
 * shapes, and where each one lies in the safetensors file. The result is a flat list the native
 * loader consumes (it mmaps the file and re-checks every bound).
 *
 * Canonical names are Hugging Face's names without the `transformer.` prefix, e.g.
 * `wte.weight`, `h.3.attn.attention.q_proj.weight`, `h.3.mlp.c_fc.weight`, `ln_f.bias`, `lm_head.weight`.
 */
import { GptNeoError } from '../errors.js';
import type { GptNeoConfig } from './config.js';
import type { FloatDtype, SafetensorsFile } from './safetensors.js';

const FLOATS: readonly string[] = ['F32', 'F16', 'BF16'];

/** A tensor the model needs, with the shape the config implies. */
export interface ExpectedTensor {
  name: string;
  shape: number[];
}

export interface GptNeoWeight {
  /** Canonical name, e.g. 'h.3.mlp.c_fc.weight'. */
  name: string;
  dtype: FloatDtype;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  nbytes: number;
}

export interface GptNeoWeightTable {
  /** The dtype holding the most bytes among the used tensors (tensors may differ; see each one's dtype). */
  dtype: FloatDtype;
  /** Every tensor the model uses, in canonical order (see {@link expectedGptNeoTensors}). */
  tensors: GptNeoWeight[];
  /** True when the checkpoint has no lm_head.weight and the head reuses wte. */
  lmHeadTied: boolean;
  /** Names (as in the file) of tensors the model does not know and ignores. */
  ignored: string[];
  /** Names (as in the file) of the legacy attention mask buffers, which are skipped. */
  skippedBuffers: string[];
}

/**
 * Whether a tensor name is one of the attention mask buffers older transformers saved
 * (`…attn.attention.bias`, `…attn.attention.masked_bias`): not weights, skipped by the loader.
 */
export function isLegacyAttentionBuffer(name: string): boolean {
  return /(^|\.)h\.\d+\.attn\.attention\.(bias|masked_bias)$/.test(name);
}

/**
 * The tensors a GPT-Neo model with this config needs, in canonical order, with their shapes.
 * Linear weights are stored [out_features, in_features]. lm_head.weight is listed only when
 * `includeLmHead` is set (it is optional in a checkpoint: tied to wte when absent).
 */
export function expectedGptNeoTensors(config: GptNeoConfig, includeLmHead = false): ExpectedTensor[] {
  const { vocabSize: v, hiddenSize: h, intermediateSize: inter, maxPositionEmbeddings: pos } = config;
  const list: ExpectedTensor[] = [
    { name: 'wte.weight', shape: [v, h] },
    { name: 'wpe.weight', shape: [pos, h] },
  ];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `h.${l}.`;
    list.push(
      { name: `${p}ln_1.weight`, shape: [h] },
      { name: `${p}ln_1.bias`, shape: [h] },
      { name: `${p}attn.attention.q_proj.weight`, shape: [h, h] },
      { name: `${p}attn.attention.k_proj.weight`, shape: [h, h] },
      { name: `${p}attn.attention.v_proj.weight`, shape: [h, h] },
      { name: `${p}attn.attention.out_proj.weight`, shape: [h, h] },
      { name: `${p}attn.attention.out_proj.bias`, shape: [h] },
      { name: `${p}ln_2.weight`, shape: [h] },
      { name: `${p}ln_2.bias`, shape: [h] },
      { name: `${p}mlp.c_fc.weight`, shape: [inter, h] },
      { name: `${p}mlp.c_fc.bias`, shape: [inter] },
      { name: `${p}mlp.c_proj.weight`, shape: [h, inter] },
      { name: `${p}mlp.c_proj.bias`, shape: [h] },
    );
  }
  list.push({ name: 'ln_f.weight', shape: [h] }, { name: 'ln_f.bias', shape: [h] });
  if (includeLmHead) list.push({ name: 'lm_head.weight', shape: [v, h] });
  return list;
}

function badCheckpoint(path: string, message: string): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_BAD_CHECKPOINT', `${path}: ${message}`,
    { hint: 'the checkpoint does not match its config.json; check that both come from the same model' });
}

/** Maps a file's tensor name to its canonical name (drops the `transformer.` prefix). */
function canonicalName(name: string): string {
  return name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * Matches a checkpoint's tensors to the ones a GPT-Neo model with this config needs.
 * Accepts names with or without the `transformer.` prefix, an optional `lm_head.weight`, and the
 * legacy attention mask buffers (skipped); other unknown tensors are ignored and listed.
 * @throws GptNeoError ERR_GPTNEO_BAD_CHECKPOINT naming the tensor for a missing tensor, a shape
 *   that differs from the config's, a non-float dtype, or a name present both with and without prefix
 */
export function resolveGptNeoWeights(file: SafetensorsFile, config: GptNeoConfig): GptNeoWeightTable {
  const byCanonical = new Map<string, string>(); // canonical → name in file
  const ignored: string[] = [];
  const skippedBuffers: string[] = [];
  const expected = expectedGptNeoTensors(config, true);
  const known = new Set(expected.map((t) => t.name));

  for (const name of file.tensors.keys()) {
    if (isLegacyAttentionBuffer(name)) { skippedBuffers.push(name); continue; }
    const canonical = canonicalName(name);
    if (!known.has(canonical)) { ignored.push(name); continue; }
    const other = byCanonical.get(canonical);
    if (other !== undefined) {
      throw badCheckpoint(file.path, `tensor ${canonical} is present twice, as ${JSON.stringify(other)} and ${JSON.stringify(name)}`);
    }
    byCanonical.set(canonical, name);
  }

  const hasLmHead = byCanonical.has('lm_head.weight');
  if (!hasLmHead && !config.tieWordEmbeddings) {
    throw badCheckpoint(file.path, 'missing tensor lm_head.weight: config.json sets tie_word_embeddings to false, ' +
      'so the head cannot reuse wte');
  }

  const tensors: GptNeoWeight[] = [];
  const bytesByDtype = new Map<FloatDtype, number>();
  for (const want of expected) {
    const fileName = byCanonical.get(want.name);
    if (fileName === undefined) {
      if (want.name === 'lm_head.weight') continue;
      throw badCheckpoint(file.path, `missing tensor ${want.name} (expected shape ${shapeText(want.shape)}; ` +
        `also looked for transformer.${want.name})`);
    }
    const info = file.tensors.get(fileName)!;
    if (!FLOATS.includes(info.dtype)) {
      throw badCheckpoint(file.path, `tensor ${fileName} has dtype ${info.dtype}; weights must be F32, F16 or BF16`);
    }
    if (shapeText(info.shape) !== shapeText(want.shape)) {
      throw badCheckpoint(file.path, `tensor ${fileName} has shape ${shapeText(info.shape)} but the config implies ` +
        `${shapeText(want.shape)}`);
    }
    const dtype = info.dtype as FloatDtype;
    tensors.push({ name: want.name, dtype, shape: [...info.shape], offset: info.begin, nbytes: info.nbytes });
    bytesByDtype.set(dtype, (bytesByDtype.get(dtype) ?? 0) + info.nbytes);
  }

  let dominant: FloatDtype = tensors[0]!.dtype;
  for (const [dtype, bytes] of bytesByDtype) if (bytes > bytesByDtype.get(dominant)!) dominant = dtype;
  return { dtype: dominant, tensors, lmHeadTied: !hasLmHead, ignored, skippedBuffers };
}
