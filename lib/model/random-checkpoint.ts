/**
 * Writes GPT-Neo checkpoints with seeded random weights (config.json + model.safetensors, laid out
 * exactly like a Hugging Face save_pretrained() directory). Used by benchmarks, which need
 * full-size models without a download, and by tests (tiny preset only). Never commit the output.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GptNeoError } from '../errors.js';
import { expectBoolean, expectInteger, expectKnownKeys, expectObject, expectOneOf, expectPositiveInteger } from '../validate.js';
import { parseConfig } from './config.js';
import { writeSafetensors, type FloatDtype, type TensorToWrite } from './safetensors.js';
import { expectedGptNeoTensors } from './weights.js';

export type RandomCheckpointPreset = 'tiny' | '125m' | '1.3b';
export type RandomCheckpointDtype = 'float32' | 'bfloat16' | 'float16';

export interface RandomCheckpointOptions {
  preset: RandomCheckpointPreset;
  /** Same seed and options → byte-identical files. Integer in [0, 2^32 - 1]. */
  seed: number;
  dtype: RandomCheckpointDtype;
  vocabSize?: number;
  maxPositionEmbeddings?: number;
  hiddenSize?: number;
  numLayers?: number;
  numHeads?: number;
  /** Default: 4 * hiddenSize (written as `intermediate_size: null`, like the HF configs). */
  intermediateSize?: number;
  windowSize?: number;
  /** Write a separate lm_head.weight and `tie_word_embeddings: false`. Default false (tied, no lm_head). */
  untiedLmHead?: boolean;
}

interface Dimensions {
  vocabSize: number; maxPositionEmbeddings: number; hiddenSize: number; numLayers: number; numHeads: number;
  windowSize: number;
}

/** EleutherAI's model sizes; 'tiny' matches the tiny-neo fixture's dimensions. */
export const RANDOM_CHECKPOINT_PRESETS: Readonly<Record<RandomCheckpointPreset, Readonly<Dimensions>>> = {
  'tiny': { vocabSize: 512, maxPositionEmbeddings: 128, hiddenSize: 64, numLayers: 4, numHeads: 4, windowSize: 8 },
  '125m': { vocabSize: 50257, maxPositionEmbeddings: 2048, hiddenSize: 768, numLayers: 12, numHeads: 12, windowSize: 256 },
  '1.3b': { vocabSize: 50257, maxPositionEmbeddings: 2048, hiddenSize: 2048, numLayers: 24, numHeads: 16, windowSize: 256 },
};

const OPTION_KEYS = ['preset', 'seed', 'dtype', 'vocabSize', 'maxPositionEmbeddings', 'hiddenSize', 'numLayers',
  'numHeads', 'intermediateSize', 'windowSize', 'untiedLmHead'] as const;

const SAFETENSORS_DTYPE: Record<RandomCheckpointDtype, FloatDtype> = { float32: 'F32', bfloat16: 'BF16', float16: 'F16' };

/** Elements generated per chunk (4 MB of float32): bounds memory for any model size. */
const CHUNK_ELEMENTS = 1 << 20;

/** `[[["global","local"], n/2]]`, plus one trailing global layer when numLayers is odd. */
function attentionTypes(numLayers: number): Array<[string[], number]> {
  const types: Array<[string[], number]> = [];
  if (numLayers >= 2) types.push([['global', 'local'], Math.floor(numLayers / 2)]);
  if (numLayers % 2 === 1) types.push([['global'], 1]);
  return types;
}

function expandAttentionTypes(types: Array<[string[], number]>): string[] {
  return types.flatMap(([pattern, repeat]) => Array.from({ length: repeat }, () => pattern).flat());
}

function buildConfigJson(dims: Dimensions, intermediateSize: number | undefined, dtype: RandomCheckpointDtype,
  untiedLmHead: boolean): Record<string, unknown> {
  const types = attentionTypes(dims.numLayers);
  return {
    activation_function: 'gelu_new',
    architectures: ['GPTNeoForCausalLM'],
    attention_dropout: 0.0,
    attention_layers: expandAttentionTypes(types),
    attention_types: types,
    bos_token_id: 50256,
    embed_dropout: 0.0,
    eos_token_id: 50256,
    hidden_size: dims.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: intermediateSize ?? null,
    layer_norm_epsilon: 1e-5,
    max_position_embeddings: dims.maxPositionEmbeddings,
    model_type: 'gpt_neo',
    num_heads: dims.numHeads,
    num_layers: dims.numLayers,
    resid_dropout: 0.0,
    ...(untiedLmHead ? { tie_word_embeddings: false } : {}),
    torch_dtype: dtype,
    use_cache: true,
    vocab_size: dims.vocabSize,
    window_size: dims.windowSize,
  };
}

/** 32-bit FNV-1a of a string, mixed with a seed: one independent PRNG stream per tensor. */
function streamSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Fills `out` with approximately normal values (Irwin–Hall sum of four 16-bit uniforms, scaled to
 * unit variance) from a mulberry32 stream; returns the advanced state.
 */
function fillNormalish(out: Float32Array, state: number, mean: number, std: number): number {
  const scale = (std * Math.sqrt(3)) / 65536;
  let a = state | 0;
  for (let i = 0; i < out.length; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const x = (t ^ (t >>> 14)) >>> 0;
    a = (a + 0x6d2b79f5) | 0;
    t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const y = (t ^ (t >>> 14)) >>> 0;
    const sum = (x & 0xffff) + (x >>> 16) + (y & 0xffff) + (y >>> 16);
    out[i] = mean + (sum - 131070) * scale;
  }
  return a;
}

/** Rounds float32 values (as raw bits) to bfloat16 bits, round-to-nearest-even. */
export function float32ToBfloat16Bits(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) dst[i] = (x >>> 16) | 0x40; // quiet NaN
    else dst[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return dst;
}

/** Rounds float32 values to IEEE binary16 bits, round-to-nearest-even, with subnormals and ±inf. */
export function float32ToFloat16Bits(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    const e = exp - 127 + 15;
    let h: number;
    if (exp === 0xff) h = 0x7c00 | (mant !== 0 ? 0x200 : 0);
    else if (e >= 0x1f) h = 0x7c00;
    else if (e <= 0) {
      // Subnormal half: value = (mant | implicit 1) * 2^(exp-150) = h * 2^-24.
      const shift = 14 - e;
      if (shift > 24) h = 0;
      else {
        const m = mant | 0x800000;
        h = m >>> shift;
        const rem = m & ((1 << shift) - 1);
        const half = 1 << (shift - 1);
        if (rem > half || (rem === half && (h & 1) === 1)) h++;
      }
    } else {
      h = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry correctly bumps the exponent
    }
    dst[i] = sign | h;
  }
  return dst;
}

/** How a tensor is initialised: layer-norm weights near 1, biases small, other weights std 0.02. */
function initFor(name: string): { mean: number; std: number } {
  if (/(^|\.)ln_(1|2|f)\.weight$/.test(name)) return { mean: 1, std: 0.02 };
  if (name.endsWith('.bias')) return { mean: 0, std: 0.01 };
  return { mean: 0, std: 0.02 };
}

/** Yields a tensor's random elements in chunks, converted to the target dtype. */
function* randomChunks(count: number, seed: number, name: string, dtype: FloatDtype): Generator<Float32Array | Uint16Array> {
  const { mean, std } = initFor(name);
  let state = streamSeed(seed, name);
  const f32 = new Float32Array(Math.min(count, CHUNK_ELEMENTS));
  const u16 = dtype === 'F32' ? undefined : new Uint16Array(f32.length);
  for (let done = 0; done < count; done += f32.length) {
    const chunk = f32.subarray(0, Math.min(f32.length, count - done));
    state = fillNormalish(chunk, state, mean, std);
    if (!u16) yield chunk;
    else {
      const out = u16.subarray(0, chunk.length);
      yield dtype === 'BF16' ? float32ToBfloat16Bits(chunk, out) : float32ToFloat16Bits(chunk, out);
    }
  }
}

function resolveOptions(options: RandomCheckpointOptions): { dims: Dimensions; intermediateSize?: number; untied: boolean } {
  const opts = expectObject('options', options);
  expectKnownKeys('options', opts, OPTION_KEYS);
  const preset = expectOneOf('options.preset', opts.preset, Object.keys(RANDOM_CHECKPOINT_PRESETS) as RandomCheckpointPreset[]);
  expectInteger('options.seed', opts.seed, 0, 0xffffffff);
  expectOneOf('options.dtype', opts.dtype, Object.keys(SAFETENSORS_DTYPE) as RandomCheckpointDtype[]);
  const dims: Dimensions = { ...RANDOM_CHECKPOINT_PRESETS[preset] };
  for (const key of Object.keys(dims) as Array<keyof Dimensions>) {
    if (opts[key] !== undefined) dims[key] = expectPositiveInteger(`options.${key}`, opts[key]);
  }
  if (dims.hiddenSize % dims.numHeads !== 0) {
    throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
      `Expected options.hiddenSize (${dims.hiddenSize}) to be divisible by options.numHeads (${dims.numHeads})`);
  }
  const intermediateSize = opts.intermediateSize === undefined ? undefined
    : expectPositiveInteger('options.intermediateSize', opts.intermediateSize);
  const untied = opts.untiedLmHead === undefined ? false : expectBoolean('options.untiedLmHead', opts.untiedLmHead);
  return { dims, intermediateSize, untied };
}

/**
 * Writes `<dir>/config.json` and `<dir>/model.safetensors` for a GPT-Neo model with seeded random
 * weights (HF names with the `transformer.` prefix, metadata `{"format":"pt"}`). Creates `dir`.
 * Weights are generated and written in chunks, so memory stays small for any model size.
 * @throws GptNeoError ERR_GPTNEO_INVALID_ARGUMENT for bad options
 */
export async function writeRandomCheckpoint(dir: string, options: RandomCheckpointOptions): Promise<void> {
  const { dims, intermediateSize, untied } = resolveOptions(options);
  const configJson = buildConfigJson(dims, intermediateSize, options.dtype, untied);
  const config = parseConfig(configJson, 'generated config.json');
  const dtype = SAFETENSORS_DTYPE[options.dtype];
  const tensors: TensorToWrite[] = expectedGptNeoTensors(config, untied).map(({ name, shape }) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const fileName = name === 'lm_head.weight' ? name : `transformer.${name}`;
    return { name: fileName, dtype, shape, data: randomChunks(count, options.seed, name, dtype) };
  });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(configJson, null, 2) + '\n');
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
}
