/**
 * loadModel() options: validation and defaults.
 */
import { MAX_RUN_AHEAD } from '../engine/run-ahead.js';
import { GptNeoError } from '../errors.js';
import type { HubProgress } from '../hub/index.js';
import {
  expectBoolean, expectInteger, expectKnownKeys, expectObject, expectOneOf, expectPositiveInteger, expectString, invalid,
} from '../validate.js';

export type DeviceOption = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
export type DTypeOption = 'auto' | 'float32' | 'bfloat16' | 'float16' | 'int8';
/** The weight storage dtype a loaded model reports (DTypeOption with 'auto' resolved). */
export type WeightDType = Exclude<DTypeOption, 'auto'>;
/** Element dtype of the KV cache: 'auto' (default) or one of KvDType. */
export type KvDTypeOption = 'auto' | 'float32' | 'bfloat16' | 'float16';
/** The KV cache dtype a loaded model reports (KvDTypeOption with 'auto' resolved). */
export type KvDType = Exclude<KvDTypeOption, 'auto'>;

export interface LoadModelOptions {
  /** 'auto' (a usable GPU if any, else CPU), 'cpu', 'cuda' or 'cuda:N'. Default 'auto'. */
  device?: DeviceOption;
  /**
   * Weight storage dtype. 'auto': float32 on CPU, bfloat16 on CUDA. Compute is float32 on CPU, except that
   * bfloat16 weights on AMX CPUs multiply products of 16+ rows with bfloat16 inputs (see `simd`).
   * 'int8' (CPU only): weight-only quantization of every Linear weight and the LM head, symmetric
   * with one float scale per output channel (scale = max |row| / 127); activations stay float32
   * (on AMX CPUs products of 16+ rows take bfloat16 inputs, as with 'bfloat16') and the
   * token/position embedding lookups keep the checkpoint's dtype. Decode streams about a
   * quarter of float32's weight bytes, at a small logit error. With device 'auto' it selects the
   * CPU; with device 'cuda' it fails with ERR_GPTNEO_UNSUPPORTED.
   */
  dtype?: DTypeOption;
  /** CPU threads (default: the CPUs this process may use). */
  threads?: number;
  /** Longest sequence (prompt + generated) a request may have. Default: max_position_embeddings. */
  contextSize?: number;
  /** Tokens the KV cache holds across all sequences. Default: about 512 MiB worth, at least contextSize. */
  kvCacheTokens?: number;
  /**
   * Element dtype of the KV cache. 'auto' (default): on CUDA with bfloat16/float16 weights, the weight
   * dtype (half the memory of float32, so twice the tokens in the same bytes; keys and values are rounded
   * to it when written, as a half-precision model's own attention rounds them); float32 otherwise.
   * The CPU keeps a float32 cache: 'bfloat16'/'float16' there fail with ERR_GPTNEO_UNSUPPORTED.
   */
  kvCacheDtype?: KvDTypeOption;
  /**
   * Tokens of the separate KV pool of the local-attention layers, which read only the last
   * window_size keys. Default: enough for 32 concurrent windows plus one prefill step, at least
   * contextSize and at most kvCacheTokens. 0 makes local layers share the main pool.
   */
  localKvCacheTokens?: number;
  /** Most tokens one engine step computes (prefill chunks + decode tokens). Default 512. */
  maxBatchTokens?: number;
  /** Tokens per KV block. Default 16. */
  kvBlockSize?: number;
  /**
   * Decode run-ahead: the most decode steps one native call may take while every running request is
   * decoding with its tokens chosen natively (greedy, or sampled in the step: the default sampler) and no
   * other request waits. Each step's token then becomes the next step's input natively (on CUDA a greedy
   * run replays the recorded step back to back), so a token pays no round trip through JavaScript; seeded
   * outputs are the same as with one step per call. Tokens arrive in bursts: the engine keeps a burst under about 20 ms (fewer
   * steps when a step is slow; one when it takes over 10 ms) and never past a request's token limit, and
   * new requests and aborts wait at most for the burst. Integer in [1, 256]; default 16; 1 turns it off.
   * `stats().runAhead` counts the calls and steps.
   */
  runAhead?: number;
  /** Reuse the KV of equal prompt prefixes across requests. Default true. */
  prefixCaching?: boolean;
  /**
   * CUDA only: record decode steps (every sequence adding one token, up to 64 sequences) as CUDA
   * graphs, one per batch-size and context-length bucket, and replay them: one launch per step
   * instead of about ten per layer. Default true; ignored on the CPU. `info().cudaGraphs` reports
   * recordings and replays.
   */
  cudaGraphs?: boolean;
  /**
   * Forces a lower CPU SIMD path: 'portable' | 'avx2' | 'avx512' | 'avx512bf16' | 'amx' (also env GPTNEO_SIMD).
   * 'amx' (Intel AMX tiles, chosen automatically where the CPU and OS allow it) runs bfloat16-weight GEMMs of
   * 16 or more rows (prefill, embeddings, large batches) with their inputs rounded to bfloat16.
   */
  simd?: 'portable' | 'avx2' | 'avx512' | 'avx512bf16' | 'amx';
  /** Hub: cache directory (default $HF_HUB_CACHE or ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Hub: branch, tag or commit. Default 'main'. */
  revision?: string;
  /** Hub: never touch the network (also HF_HUB_OFFLINE=1). */
  offline?: boolean;
  /** Hub download progress. */
  onProgress?: (progress: HubProgress) => void;
  /** Aborts loading. */
  signal?: AbortSignal;
}

export const LOAD_OPTION_KEYS = ['device', 'dtype', 'threads', 'contextSize', 'kvCacheTokens', 'kvCacheDtype', 'localKvCacheTokens', 'maxBatchTokens',
  'kvBlockSize', 'runAhead', 'prefixCaching', 'cudaGraphs', 'simd', 'cacheDir', 'revision', 'offline', 'onProgress', 'signal'] as const;

export interface ParsedDevice {
  kind: 'auto' | 'cpu' | 'cuda';
  index: number;
}

export function parseDevice(value: unknown): ParsedDevice {
  if (value === undefined || value === 'auto') return { kind: 'auto', index: 0 };
  if (value === 'cpu') return { kind: 'cpu', index: 0 };
  if (value === 'cuda') return { kind: 'cuda', index: 0 };
  if (typeof value === 'string') {
    const m = /^cuda:(\d{1,3})$/.exec(value);
    if (m) return { kind: 'cuda', index: Number(m[1]) };
  }
  throw invalid("'auto', 'cpu', 'cuda' or 'cuda:N'", 'device', value);
}

export function validateLoadOptions(options: unknown): LoadModelOptions {
  if (options === undefined) return {};
  const o = expectObject('options', options);
  expectKnownKeys('options', o, LOAD_OPTION_KEYS);
  parseDevice(o.device);
  if (o.dtype !== undefined) expectOneOf('dtype', o.dtype, ['auto', 'float32', 'bfloat16', 'float16', 'int8']);
  if (o.kvCacheDtype !== undefined) expectOneOf('kvCacheDtype', o.kvCacheDtype, ['auto', 'float32', 'bfloat16', 'float16']);
  for (const key of ['threads', 'contextSize', 'kvCacheTokens', 'maxBatchTokens', 'kvBlockSize'] as const) {
    if (o[key] !== undefined) expectPositiveInteger(key, o[key]);
  }
  if (o.localKvCacheTokens !== undefined) expectInteger('localKvCacheTokens', o.localKvCacheTokens, 0);
  if (o.threads !== undefined && (o.threads as number) > 1024) throw invalid('integer in [1, 1024]', 'threads', o.threads);
  if (o.kvBlockSize !== undefined && (o.kvBlockSize as number) > 1024) {
    throw invalid('integer in [1, 1024]', 'kvBlockSize', o.kvBlockSize);
  }
  if (o.runAhead !== undefined) expectInteger('runAhead', o.runAhead, 1, MAX_RUN_AHEAD);
  if (o.prefixCaching !== undefined) expectBoolean('prefixCaching', o.prefixCaching);
  if (o.cudaGraphs !== undefined) expectBoolean('cudaGraphs', o.cudaGraphs);
  if (o.simd !== undefined) expectOneOf('simd', o.simd, ['portable', 'avx2', 'avx512', 'avx512bf16', 'amx']);
  if (o.cacheDir !== undefined) expectString('cacheDir', o.cacheDir);
  if (o.revision !== undefined) expectString('revision', o.revision);
  if (o.offline !== undefined) expectBoolean('offline', o.offline);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalid('function', 'onProgress', o.onProgress);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('AbortSignal', 'signal', o.signal);
  return o as LoadModelOptions;
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new GptNeoError('ERR_GPTNEO_ABORTED', 'Loading was aborted');
}
