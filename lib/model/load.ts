/**
 * loadModel(source, options): a local directory or a Hub repo id → a ready GptNeoModel.
 * Validates config.json and the safetensors header in TypeScript before native code maps the
 * file; the native side re-checks bounds cheaply and prepares the weights off the JS thread.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RUN_AHEAD } from '../engine/run-ahead.js';
import { GptNeoError, fromNativeError } from '../errors.js';
import { resolveModelSource } from '../hub/index.js';
import { loadNative } from '../native/binding.js';
import type { NativeModel, NativeWeightDType } from '../native/types.js';
import { Tokenizer } from '../tokenizer/index.js';
import { expectString } from '../validate.js';
import { readConfig, readSafetensorsHeader, resolveGptNeoWeights, type GptNeoConfig } from './checkpoint.js';
import { GptNeoModel } from './model.js';
import {
  checkAborted, parseDevice, validateLoadOptions, type KvDType, type LoadModelOptions, type WeightDType,
} from './options.js';

const DTYPE_TO_NATIVE = { float32: 'F32', bfloat16: 'BF16', float16: 'F16', int8: 'I8' } as const satisfies Record<WeightDType, NativeWeightDType>;
const KV_DTYPE_BYTES = { float32: 4, bfloat16: 2, float16: 2 } as const satisfies Record<KvDType, number>;
const DEFAULT_KV_BUDGET_BYTES = 512 * 1024 * 1024;
const DEFAULT_MAX_BATCH_TOKENS = 512;
const DEFAULT_KV_BLOCK_SIZE = 16;

export async function loadModel(source: string, options?: LoadModelOptions): Promise<GptNeoModel> {
  expectString('source', source);
  const opts = validateLoadOptions(options);
  const dir = await resolveModelSource(source, {
    cacheDir: opts.cacheDir, revision: opts.revision, offline: opts.offline, onProgress: opts.onProgress, signal: opts.signal,
  });
  checkAborted(opts.signal);
  const config = await readConfig(dir);
  const weightsPath = join(dir, 'model.safetensors');
  if (!existsSync(weightsPath)) {
    const hint = existsSync(join(dir, 'pytorch_model.bin'))
      ? 'this directory only has pytorch_model.bin: convert it with transformers (save_pretrained(dir, safe_serialization=True))'
      : 'the directory needs model.safetensors next to config.json';
    throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND', `No model.safetensors in ${dir}`, { hint });
  }
  const file = await readSafetensorsHeader(weightsPath);
  const table = resolveGptNeoWeights(file, config);
  const tokenizer = Tokenizer.hasTokenizerFiles(dir) ? await Tokenizer.fromDir(dir) : undefined;
  checkAborted(opts.signal);

  const addon = loadNative();
  const { kind, index } = parseDevice(opts.device);
  // int8 weights are CPU-only: 'auto' then means the CPU, an explicit CUDA device is an error.
  if (opts.dtype === 'int8' && kind === 'cuda') {
    throw new GptNeoError('ERR_GPTNEO_UNSUPPORTED', "dtype 'int8' is supported on the CPU only",
      { hint: "use device: 'cpu' (or 'auto') with dtype 'int8', or dtype 'bfloat16' / 'float16' on CUDA" });
  }
  const useCuda = kind === 'cuda' ||
    (kind === 'auto' && opts.dtype !== 'int8' && firstUsableCuda(addon.devices()) !== undefined);
  const deviceIndex = kind === 'auto' ? firstUsableCuda(addon.devices()) ?? 0 : index;
  if (kind === 'cuda') assertCudaUsable(addon.devices(), index);
  const dtype: WeightDType = !opts.dtype || opts.dtype === 'auto' ? (useCuda ? 'bfloat16' : 'float32') : opts.dtype;
  const kvDtype = resolveKvDtype(opts.kvCacheDtype, dtype, useCuda);

  const contextSize = Math.min(opts.contextSize ?? config.maxPositionEmbeddings, config.maxPositionEmbeddings);
  const kvBlockSize = opts.kvBlockSize ?? DEFAULT_KV_BLOCK_SIZE;
  const kvTokens = opts.kvCacheTokens ?? defaultKvTokens(config, contextSize, KV_DTYPE_BYTES[kvDtype]);
  if (kvTokens < contextSize) {
    throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
      `Expected kvCacheTokens >= contextSize (${contextSize}) but received ${kvTokens}`,
      { hint: 'one sequence of the full context must fit in the KV cache; lower contextSize or raise kvCacheTokens' });
  }
  const kvBlocks = Math.ceil(kvTokens / kvBlockSize) + 1;
  const maxBatchTokens = opts.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
  const localKvTokens = localPoolTokens(config, opts.localKvCacheTokens, contextSize, kvTokens, maxBatchTokens, kvBlockSize);
  const localKvBlocks = localKvTokens === 0 ? 0 : Math.ceil(localKvTokens / kvBlockSize) + 1;

  let native: NativeModel;
  try {
    native = new addon.NativeModel(nativeConfig(config), {
      device: useCuda ? 'cuda' : 'cpu', deviceIndex, threads: opts.threads, simd: opts.simd,
    });
  } catch (e) {
    throw fromNativeError(e);
  }
  try {
    await native.load(weightsPath, table.tensors.map((t) => ({ ...t, name: t.name })), {
      weightDtype: DTYPE_TO_NATIVE[dtype], kvBlocks, blockSize: kvBlockSize, localKvBlocks,
      graphs: opts.cudaGraphs ?? true, kvDtype: DTYPE_TO_NATIVE[kvDtype],
    });
    checkAborted(opts.signal);
  } catch (e) {
    native.dispose();
    throw fromNativeError(e);
  }
  return new GptNeoModel({
    native, config, tokenizer, dtype, kvDtype, contextSize, kvBlocks, localKvBlocks, kvBlockSize, source: dir,
    device: useCuda ? `cuda:${deviceIndex}` : 'cpu',
    maxBatchTokens,
    runAhead: opts.runAhead ?? DEFAULT_RUN_AHEAD,
    prefixCaching: opts.prefixCaching ?? true,
  });
}

/** The config object `new NativeModel(config, …)` takes, from a parsed GPT-Neo config. */
export function nativeConfig(c: GptNeoConfig) {
  return {
    vocabSize: c.vocabSize, maxPositions: c.maxPositionEmbeddings, hidden: c.hiddenSize, layers: c.numLayers,
    heads: c.numHeads, intermediate: c.intermediateSize, window: c.windowSize, layerNormEps: c.layerNormEpsilon,
    localLayers: c.attentionLayers.map((a) => a === 'local'),
  };
}

/**
 * Tokens of the local-layer pool (0: local layers share the main pool). A decoding sequence keeps at
 * most window + one block of local KV, a prefill step its chunk too; the default budgets 32 such
 * windows plus a step, never below contextSize (so any single sequence is admitted) nor above the
 * main pool. It only exists when the model has local layers whose window is shorter than the context.
 */
function localPoolTokens(c: GptNeoConfig, requested: number | undefined, contextSize: number, kvTokens: number,
  maxBatchTokens: number, blockSize: number): number {
  if (!c.attentionLayers.includes('local') || c.windowSize >= contextSize) return 0;
  if (requested !== undefined) {
    if (requested !== 0 && requested < contextSize) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
        `Expected localKvCacheTokens of 0 or >= contextSize (${contextSize}) but received ${requested}`);
    }
    return requested;
  }
  return Math.max(contextSize, Math.min(kvTokens, 32 * (c.windowSize + 2 * blockSize) + maxBatchTokens));
}

/**
 * The KV cache dtype: 'auto' is the weight dtype for bfloat16/float16 weights on CUDA, float32 otherwise.
 * A half-precision cache on the CPU is refused (its kernels read float32).
 */
function resolveKvDtype(requested: LoadModelOptions['kvCacheDtype'], weights: WeightDType, useCuda: boolean): KvDType {
  if (!requested || requested === 'auto') return useCuda && (weights === 'bfloat16' || weights === 'float16') ? weights : 'float32';
  if (requested !== 'float32' && !useCuda) {
    throw new GptNeoError('ERR_GPTNEO_UNSUPPORTED', `kvCacheDtype '${requested}' is supported on CUDA only`,
      { hint: "the CPU keeps a float32 KV cache: use kvCacheDtype 'auto' or 'float32' there" });
  }
  return requested;
}

/** About 512 MiB of KV (elements of bytesPerElement), clamped to [contextSize, 8 × contextSize] tokens. */
function defaultKvTokens(c: GptNeoConfig, contextSize: number, bytesPerElement: number): number {
  const bytesPerToken = 2 * c.numLayers * c.hiddenSize * bytesPerElement;
  const fit = Math.floor(DEFAULT_KV_BUDGET_BYTES / bytesPerToken);
  return Math.min(Math.max(fit, contextSize), 8 * contextSize);
}

type Devices = ReturnType<ReturnType<typeof loadNative>['devices']>;

function firstUsableCuda(d: Devices): number | undefined {
  return d.cuda.devices.find((x) => x.usable)?.index;
}

function assertCudaUsable(d: Devices, index: number): void {
  const dev = d.cuda.devices.find((x) => x.index === index);
  if (!d.cuda.built || !dev || !dev.usable) {
    const why = !d.cuda.built ? d.cuda.reason ?? 'built without CUDA'
      : !dev ? (d.cuda.reason ?? `no CUDA device with index ${index}`) : dev.reason ?? 'unusable';
    throw new GptNeoError('ERR_GPTNEO_DEVICE_UNAVAILABLE', `CUDA device ${index} is not usable: ${why}`,
      { hint: "use device: 'cpu' or 'auto' (which falls back to the CPU)" });
  }
}
