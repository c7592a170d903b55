/**
 * GptNeoModel: a loaded GPT-Neo checkpoint. Every call goes through the model's engine, so
 * concurrent generate/stream/forward calls share native steps (continuous batching).
 */
import { Engine, type EngineStats } from '../engine/engine.js';
import { EmbedRequest, type Pooling } from '../engine/embed-request.js';
import { ForwardRequest } from '../engine/forward-request.js';
import { GenerationRequest } from '../engine/generation-request.js';
import type { GenerationChunk, GenerationResult } from '../engine/types.js';
import { GptNeoError } from '../errors.js';
import type { NativeGraphStats, NativeModel, NativeSamplingPrefilterStats } from '../native/types.js';
import { SAMPLING_OPTION_KEYS, validateSamplingOptions, type SamplingOptions } from '../sampling/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { describe, expectBoolean, expectKnownKeys, expectObject, expectOneOf, expectPositiveInteger } from '../validate.js';
import type { GptNeoConfig } from './config.js';
import type { KvDType, WeightDType } from './options.js';
import { promptToIds, validateTokenIds } from './prompt.js';

export interface ForwardOptions {
  /** 'logits' ([seq, vocab]) or 'hidden' ([seq, hidden], after ln_f). Default 'logits'. */
  output?: 'logits' | 'hidden';
}

export interface EmbedOptions {
  /** How a text's final hidden states (after ln_f) become one vector. Default 'mean'. */
  pooling?: Pooling;
  /** Scale each vector to unit length. Default true. */
  normalize?: boolean;
  /** Cut texts longer than the context to their first contextSize tokens instead of failing. Default false. */
  truncate?: boolean;
  /** Aborts the request between steps; it then rejects with ERR_GPTNEO_ABORTED. */
  signal?: AbortSignal;
}

export interface GenerateOptions extends SamplingOptions {
  /** When prompt + maxNewTokens exceed the context: 'error' (default) or 'left' (drop the oldest prompt tokens). */
  truncate?: 'error' | 'left';
}

/** What GptNeoModel.info() reports. */
export interface ModelInfo {
  backend: string;
  dtype: WeightDType;
  /** Element dtype of the KV cache (see the kvCacheDtype load option). */
  kvDtype: KvDType;
  weightBytes: number;
  kvBytes: number;
  kvBlocks: number;
  localKvBlocks: number;
  kvBlockSize: number;
  /** CUDA only: decode-step graphs (enabled, recordings made, steps replayed, why they were turned off). */
  cudaGraphs?: NativeGraphStats;
  /**
   * CUDA only, when any is on: the switchable CUDA kernel paths in effect ('gemvStream', 'programmaticLaunch',
   * 'wgmma', 'wgmmaTma', 'wgmmaTmaPersistent', 'wgmmaTmaCluster', 'wgmmaAttention', 'wgmmaAttentionPipelined',
   * 'fusedLayerNorm', 'fusedKvWrite', 'fusedDecodeLayer',
   * 'l2Prefetch', 'x16Activations', 'decodeTcCluster', 'rowStage', 'decodeKeys16',
   * 'decodeSplitWaves'). The first three are the defaults where the GPU has them
   * (programmatic launch, wgmma and decodeTcCluster need compute capability 9.0); GPTNEO_CUDA_* environment
   * variables read when the model loaded change them (GPTNEO_CUDA_WGMMA, GPTNEO_CUDA_WGMMA_ATTENTION and
   * GPTNEO_CUDA_DECODE_TC: once per process; GPTNEO_CUDA_ROW_STAGE, GPTNEO_CUDA_DECODE_KEYS16 and
   * GPTNEO_CUDA_DECODE_SPLIT: process-wide, as the
   * model loaded last found them; README,
   * csrc/cuda/README.md). A switch that does not apply to the GPU is not
   * listed. (The name is historical: these paths were experimental until measured on a GPU.)
   */
  cudaExperimental?: string[];
  /**
   * Sampled steps: whether the sampling prefilter is on (by default on CUDA; GPTNEO_SAMPLING_PREFILTER=0/1), and
   * how many rows were sampled from the candidates the backend selected (greedy and top-k rows), drawn by
   * the backend (temperature rows, with the experimental device draw on: GPTNEO_SAMPLING_DRAW=1) or from
   * whole rows of logits read back.
   */
  samplingPrefilter?: NativeSamplingPrefilterStats;
}

export interface ModelRuntime {
  native: NativeModel;
  config: GptNeoConfig;
  tokenizer: Tokenizer | undefined;
  device: string;
  dtype: WeightDType;
  kvDtype: KvDType;
  contextSize: number;
  kvBlocks: number;
  /** Blocks of the local-layer KV pool; 0 when local layers share the main pool. */
  localKvBlocks: number;
  kvBlockSize: number;
  maxBatchTokens: number;
  /** Most decode steps per native call (LoadModelOptions.runAhead). */
  runAhead: number;
  prefixCaching: boolean;
  source: string;
}

export class GptNeoModel implements AsyncDisposable {
  readonly config: GptNeoConfig;
  /** Undefined when the model directory has no tokenizer files. */
  readonly tokenizer: Tokenizer | undefined;
  /** 'cpu' or 'cuda:N'. */
  readonly device: string;
  /** Weight storage dtype ('auto' resolved). */
  readonly dtype: WeightDType;
  /** KV cache element dtype ('auto' resolved). */
  readonly kvDtype: KvDType;
  /** Longest sequence (prompt + generated) a request may have. */
  readonly contextSize: number;
  /** The directory the weights came from. */
  readonly source: string;
  private readonly native: NativeModel;
  private readonly engine: Engine;
  private disposed = false;
  private disposing: Promise<void> | undefined;

  /** @internal use loadModel() */
  constructor(rt: ModelRuntime) {
    this.config = rt.config;
    this.tokenizer = rt.tokenizer;
    this.device = rt.device;
    this.dtype = rt.dtype;
    this.kvDtype = rt.kvDtype;
    this.contextSize = rt.contextSize;
    this.source = rt.source;
    this.native = rt.native;
    this.engine = new Engine(rt.native, {
      kvBlocks: rt.kvBlocks, blockSize: rt.kvBlockSize, maxBatchTokens: rt.maxBatchTokens,
      vocabSize: rt.config.vocabSize, prefixCaching: rt.prefixCaching, runAhead: rt.runAhead,
      ...(rt.localKvBlocks > 0 ? { localWindow: { windowSize: rt.config.windowSize, numBlocks: rt.localKvBlocks } } : {}),
    });
  }

  /** Native backend description, e.g. 'cpu/avx512'. */
  get backend(): string {
    return this.native.info().backend;
  }

  /**
   * Native memory and backend: weight storage dtype, weight bytes as prepared (int8: with its
   * scales), KV pool bytes, block geometry, and on CUDA the decode-step graphs (see the
   * `cudaGraphs` load option) and any experimental switches in effect. Taken while a step runs, the
   * native figures are left at 0.
   */
  info(): ModelInfo {
    this.assertUsable();
    const i = this.native.info();
    const graphs = i.graphs;
    const cuda = this.device.startsWith('cuda');
    return { backend: i.backend, dtype: this.dtype, kvDtype: this.kvDtype, weightBytes: i.weightBytes ?? 0, kvBytes: i.kvBytes ?? 0,
      kvBlocks: i.kvBlocks ?? 0, localKvBlocks: i.localKvBlocks ?? 0, kvBlockSize: i.blockSize ?? 0,
      ...(cuda && graphs ? { cudaGraphs: graphs } : {}),
      ...(cuda && i.experimental && i.experimental.length > 0 ? { cudaExperimental: [...i.experimental] } : {}),
      ...(i.samplingPrefilter ? { samplingPrefilter: { ...i.samplingPrefilter } } : {}) };
  }

  /** Engine counters and KV-cache gauges. */
  stats(): EngineStats {
    return this.engine.stats();
  }

  /**
   * One full forward pass of one sequence, without any cache: logits [seq, vocab] or the final
   * hidden states [seq, hidden] (after ln_f), row-major.
   */
  async forward(ids: readonly number[] | Int32Array, options: ForwardOptions = {}): Promise<Float32Array> {
    this.assertUsable();
    const opts = expectObject('options', options);
    expectKnownKeys('options', opts, ['output']);
    const output = opts.output === undefined ? 'logits' : expectOneOf('output', opts.output, ['logits', 'hidden']);
    const tokens = validateTokenIds('ids', ids, this.config.vocabSize);
    this.checkLength(tokens.length);
    const request = new ForwardRequest(tokens, output);
    this.engine.submitForward(request);
    return request.result;
  }

  /** Generates a continuation of a prompt (text or token ids). */
  async generate(prompt: string | readonly number[] | Int32Array, options: GenerateOptions = {}): Promise<GenerationResult> {
    const request = this.submit(prompt, options);
    let text = '';
    for await (const chunk of request.chunks) {
      text += chunk.text;
      if (chunk.finishReason) {
        return { text, tokenIds: request.tokenIds, finishReason: chunk.finishReason, usage: chunk.usage! };
      }
    }
    throw new GptNeoError('ERR_GPTNEO_INTERNAL', 'generation ended without a final chunk');
  }

  /** Streams a continuation chunk by chunk; the last chunk carries finishReason and usage. */
  stream(prompt: string | readonly number[] | Int32Array, options: GenerateOptions = {}): AsyncIterable<GenerationChunk> {
    const request = this.submit(prompt, options);
    return request.chunks;
  }

  /**
   * Embeds one text or many (strings, or arrays of token ids): one Float32Array of `hidden`
   * floats per input, in input order.
   * Texts run whole (every token computed), packed several per native step.
   */
  async embed(input: string | ReadonlyArray<string | readonly number[]>, options: EmbedOptions = {}): Promise<Float32Array[]> {
    this.assertUsable();
    const opts = expectObject('options', options);
    expectKnownKeys('options', opts, ['pooling', 'normalize', 'truncate', 'signal']);
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', `Expected AbortSignal for signal but received ${describe(opts.signal)}`);
    }
    const pooling = opts.pooling === undefined ? 'mean' : expectOneOf('pooling', opts.pooling, ['mean', 'last', 'first']);
    const normalize = opts.normalize === undefined ? true : expectBoolean('normalize', opts.normalize);
    const truncate = opts.truncate === undefined ? false : expectBoolean('truncate', opts.truncate);
    const texts: ReadonlyArray<string | readonly number[]> = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
        `Expected a string or a non-empty array of strings for input but received ${describe(input)}`);
    }
    const ids = texts.map((t, i) => {
      if (typeof t !== 'string' && !Array.isArray(t)) {
        throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
          `Expected a string or an array of token ids for input[${i}] but received ${describe(t)}`);
      }
      let seq = typeof t === 'string' ? promptToIds(t, this.tokenizer, this.config.vocabSize)
        : validateTokenIds(`input[${i}]`, t, this.config.vocabSize);
      if (seq.length > this.contextSize) {
        if (!truncate) {
          throw new GptNeoError('ERR_GPTNEO_CONTEXT_OVERFLOW',
            `Text ${i} has ${seq.length} tokens, more than the context size of ${this.contextSize}`,
            { hint: 'pass truncate: true to embed its first contextSize tokens' });
        }
        seq = seq.slice(0, this.contextSize);
      }
      return seq;
    });
    const request = new EmbedRequest(ids, pooling, normalize, opts.signal as AbortSignal | undefined);
    this.engine.submitForward(request);
    return request.result;
  }

  /** Frees native memory. Pending requests fail with ERR_GPTNEO_DISPOSED. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposing) return this.disposing;
    this.disposed = true;
    this.disposing = (async () => {
      await this.engine.close();
      this.native.dispose();
    })();
    return this.disposing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  private submit(prompt: unknown, options: GenerateOptions): GenerationRequest {
    this.assertUsable();
    const opts = expectObject('options', options);
    expectKnownKeys('options', opts, [...SAMPLING_OPTION_KEYS, 'truncate']);
    const truncate = opts.truncate === undefined ? 'error' : expectOneOf('truncate', opts.truncate, ['error', 'left']);
    const { truncate: _t, ...sampling } = opts;
    const normalized = validateSamplingOptions(sampling, { vocabSize: this.config.vocabSize });
    if (normalized.maxNewTokens !== undefined) expectPositiveInteger('maxNewTokens', normalized.maxNewTokens);
    if (normalized.stop.length > 0 && !this.tokenizer) {
      throw new GptNeoError('ERR_GPTNEO_NO_TOKENIZER', 'Stop strings need a tokenizer, and this model has none',
        { hint: 'use stopTokenIds instead' });
    }
    let ids = promptToIds(prompt, this.tokenizer, this.config.vocabSize);
    const wanted = normalized.maxNewTokens ?? 1;
    if (ids.length + wanted > this.contextSize) {
      if (truncate === 'left' && wanted < this.contextSize) {
        ids = ids.slice(ids.length - (this.contextSize - wanted));
      } else {
        throw new GptNeoError('ERR_GPTNEO_CONTEXT_OVERFLOW',
          `The prompt has ${ids.length} tokens and ${wanted} new tokens were asked for, ` +
          `more than the context size of ${this.contextSize}`,
          { hint: "shorten the prompt, lower maxNewTokens, or pass truncate: 'left'" });
      }
    }
    const request = new GenerationRequest(ids, normalized, {
      eosTokenId: this.tokenizer?.eosTokenId ?? this.config.eosTokenId,
      tokenLimit: this.contextSize - ids.length,
      text: this.tokenizer,
      scratch: this.engine.scratch,
    });
    this.engine.submitGeneration(request);
    return request;
  }

  private checkLength(n: number): void {
    if (n > this.contextSize) {
      throw new GptNeoError('ERR_GPTNEO_CONTEXT_OVERFLOW',
        `The input has ${n} tokens, more than the context size of ${this.contextSize}`);
    }
  }

  private assertUsable(): void {
    if (this.disposed) throw new GptNeoError('ERR_GPTNEO_DISPOSED', 'This model has been disposed');
  }
}
