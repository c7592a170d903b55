/**
 * The addon's surface, typed by hand (csrc/napi/*). Only lib/ talks to it; users never do.
 */
export interface NativeConfig {
  vocabSize: number;
  maxPositions: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  window: number;
  layerNormEps: number;
  localLayers: boolean[];
}

export interface NativeModelOptions {
  device: 'cpu' | 'cuda';
  deviceIndex?: number;
  threads?: number;
  /** Caps the CPU SIMD path: 'portable' | 'avx2' | 'avx512' | 'avx512bf16' | 'amx'. */
  simd?: string;
}

export type NativeDType = 'F32' | 'F16' | 'BF16';
/** Weight storage dtypes: the checkpoint dtypes plus 'I8' (CPU int8 quantization, never a tensor dtype). */
export type NativeWeightDType = NativeDType | 'I8';

export interface NativeTensorEntry {
  name: string;
  dtype: NativeDType;
  shape: number[];
  offset: number;
  nbytes: number;
}

export interface NativeLoadOptions {
  weightDtype: NativeWeightDType;
  /** Blocks of the main KV pool (global layers; every layer when localKvBlocks is absent). */
  kvBlocks: number;
  blockSize: number;
  /** Blocks of a separate pool for local-attention layers, addressed by localBlockTables. */
  localKvBlocks?: number;
  /** Replay decode steps from CUDA graphs where the backend can record them (default true). */
  graphs?: boolean;
  /** Element dtype of the KV cache (default F32; BF16/F16 on backends that support them). */
  kvDtype?: NativeDType;
}

/** Decode-step recordings (CUDA graphs); see csrc/model/decode_graph.h. */
export interface NativeGraphStats {
  /** The backend records, recording was asked for, and no recording has failed. */
  enabled: boolean;
  /** Recordings made (one per batch/context bucket; again after the scratch buffers grow). */
  recorded: number;
  /** Decode steps served by replaying a recording. */
  replays: number;
  /** Why recording was turned off, after a recording failed. */
  disabledReason?: string;
}

/**
 * Where sampled rows were read (csrc/model/device_sampling.h): with the prefilter on (the default on
 * CUDA backends; GPTNEO_SAMPLING_PREFILTER=0 / =1 turn it off / on), greedy and top-k rows are sampled
 * from candidates the backend selects; with the device draw on too (GPTNEO_SAMPLING_DRAW=1,
 * experimental), temperature rows without top-k/top-p/typical-p are drawn where the logits are, and
 * top-p rows are sampled from their top candidates with the backend's sum of the row's weights; the
 * others come from whole rows downloaded. Every path gives the token the whole row would.
 */
export interface NativeSamplingPrefilterStats {
  enabled: boolean;
  /** Rows sampled from their candidates. */
  candidateRows: number;
  /** Rows downloaded whole (prefilter on, but the row's options need more than its top). */
  fullRows: number;
  /** Whether the device draw is on (GPTNEO_SAMPLING_DRAW=1, read at every step). */
  draw: boolean;
  /** Rows whose token the backend drew. */
  drawnRows: number;
  /**
   * Of drawnRows, top-p rows (without typical-p; min-p applied to the nucleus) whose nucleus the backend
   * found and drew from, whatever its size (the nucleus draw).
   */
  drawnNucleusRows: number;
  /** Draws too close to a boundary between tokens to certify (those rows were downloaded whole). */
  uncertainDraws: number;
  /**
   * Top-p rows with typical-p sampled from their candidates (with the device draw on); a
   * top-p row whose nucleus the candidates could not decide (larger than they hold, or too close to
   * call) is counted in fullRows.
   */
  nucleusRows: number;
  /**
   * Top-p rows tried that way that came back whole (a nucleus larger than the candidates, or too close
   * to call; counted in fullRows too). After a step where every one tried missed, top-p rows are
   * sampled whole for a few steps (1, 2, 4 … up to 64), so flat rows do not pay for the attempt.
   */
  nucleusMisses: number;
  /**
   * How many top candidates a top-p row gets now: 256 at first, doubled (up to 2048)
   * after a step where a nucleus reached past them, halved after 64 steps where none did.
   */
  nucleusCandidates: number;
}

import type { NativeSamplingRows } from '../sampling/native-rows.js';

/** One step's packed batch (see csrc/model/gpt_neo.h StepInput). */
export interface NativeStepBatch {
  tokenIds: Int32Array;
  positions: Int32Array;
  seqStarts: Int32Array;
  blockTables: Int32Array;
  /** [num_seqs, maxBlocks] local-pool tables (-1 where a block slid out of the window); with localKvBlocks only. */
  localBlockTables?: Int32Array;
  maxBlocks: number;
  outputRows: Int32Array;
  /**
   * 'mean': per-sequence mean of the ln_f rows, [num_seqs, hidden] (outputRows ignored). 'sample': the
   * token sampled natively from each output row's logits with `sampling` (Int32Array [R]; -1 where a
   * row has no usable logit), the logits never leaving native memory.
   */
  output: 'logits' | 'hidden' | 'argmax' | 'mean' | 'sample' | 'none';
  /** With output 'sample': one entry per output row (lib/sampling/native-rows.ts). */
  sampling?: NativeSamplingRows;
  /**
   * Run-ahead (default 1): with output 'argmax' or 'sample', one token per sequence and output rows
   * 0..S-1, runs this many decode steps, each step's token (argmax, or sampled with that step's uniform
   * from `sampling.u`, which then holds [steps, S] of them) becoming the next step's input at the next
   * position; the tables must cover positions up to positions[s] + steps - 1. Returns [steps, S] ids.
   */
  steps?: number;
}

export interface NativeModelInfo {
  backend: string;
  /** step() accepts output 'sample' (absent in addons that predate it). */
  stepSampling?: boolean;
  /** The most `steps` step() accepts (absent in addons that predate run-ahead). */
  runAheadSteps?: number;
  weightBytes?: number;
  kvBytes?: number;
  kvBlocks?: number;
  localKvBlocks?: number;
  blockSize?: number;
  graphs?: NativeGraphStats;
  samplingPrefilter?: NativeSamplingPrefilterStats;
  /** Experimental switches in effect on the backend (CUDA: GPTNEO_CUDA_* variables; csrc/cuda/README.md). */
  experimental?: string[];
  disposed: boolean;
}

export interface NativeModel {
  load(path: string, tensors: NativeTensorEntry[], options: NativeLoadOptions): Promise<void>;
  step(batch: NativeStepBatch): Promise<Float32Array | Int32Array | null>;
  info(): NativeModelInfo;
  dispose(): void;
}

export interface NativeCudaDevice {
  index: number;
  name: string;
  memory: number;
  capability: string;
  usable: boolean;
  reason?: string;
}

export interface NativeDevices {
  cpu: { simd: string; simdDetected: string; threads: number };
  cuda: { built: boolean; reason?: string; devices: NativeCudaDevice[] };
}

export interface NativeAddon {
  NativeModel: new (config: NativeConfig, options: NativeModelOptions) => NativeModel;
  devices(): NativeDevices;
  buildInfo(): { cuda: boolean; napiVersion: number };
  /**
   * The benchmark bounds over `threads` threads (about a second): FMA GFLOP/s, read GB/s, and the AMX
   * tiles' bf16 GFLOP/s where the 'amx' path is in use.
   */
  /**
   * The in-step sampler on rows given from JavaScript (tests and tools; synchronous, on this thread):
   * `logits` holds whole rows of `vocabSize`; one token id per row, -1 where a row has no usable logit.
   */
  samplingSampleRows?(logits: Float32Array, vocabSize: number, sampling: NativeSamplingRows): Int32Array;
  measureMachineLimits(options: { threads: number; readBytes: number }):
    Promise<{ fmaGflops: number; readGbs: number; amxBf16Gflops?: number; threads: number; simd: string }>;
}
