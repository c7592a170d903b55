/**
 * Sliding-window (GPT-Neo "local" attention) support for the paged KV cache.
 *
 * In a local layer, query position i attends to keys j with i − windowSize < j ≤ i. Blocks that lie
 * entirely before `position − windowSize + 1` are never read again by local layers; global layers
 * still read every block.
 *
 * Design. By default the pool that {@link KvCacheManager} manages stores every layer of a block
 * together, so one block table serves all layers and prefix sharing stays simple. On top of it, windowed
 * attention is an optional capability in two parts:
 *
 * 1. `windowBlockRange` / `KvCacheManager.windowBlockTable(seqId, windowSize)`: the slice of the block
 *    table that local layers need for the next queries. Kernels for local layers take this shorter table
 *    (with the logical index of its first block), so their work and reads stay O(window) however long
 *    the sequence grows. This needs no change to the pool.
 * 2. The memory saving needs a second pool for local layers: `KvCacheManager({ localWindow: { windowSize,
 *    numBlocks } })` (local-window-pool.ts). Its blocks hold only the local layers' K and V (the main pool
 *    then holds only global layers). A sequence keeps only the local blocks its window can still read —
 *    at most `maxWindowBlocks(windowSize, blockSize)` while decoding, plus its chunk during a prefill
 *    step — and releases older ones as it grows. Prefix hits then also need the cached local blocks of
 *    the prefix's last window (the hit is shortened otherwise). Native code must allocate the second
 *    pool and give local layers `localBlockTable(seqId)`; {@link kvBytesPerSequence} computes what it buys.
 *
 * GPT-Neo-125M (12 layers, 6 local, window 256, hidden 768), one sequence at 2048 tokens, block 16;
 * K and V per layer per token = 2 · 768 elements:
 *
 * | dtype | naive: all layers keep 2048 | windowed: local layers keep 17 blocks | saved                   |
 * |-------|-----------------------------|---------------------------------------|-------------------------|
 * | fp32  | 150,994,944 B (144 MiB)     | 85,524,480 B (81.56 MiB)              | 65,470,464 B (62.44 MiB) |
 * | bf16  | 75,497,472 B (72 MiB)       | 42,762,240 B (40.78 MiB)              | 32,735,232 B (31.22 MiB) |
 *
 * Both save 43.4 % (17 blocks = 272 tokens instead of 2048 in 6 of 12 layers).
 *
 * (The test suite checks these numbers with {@link kvBytesPerSequence}.) As the context grows the saving
 * approaches half, the share of local layers.
 */
import { GptNeoError } from '../errors.js';
import { expectInteger, expectNonNegativeInteger, expectObject, expectPositiveInteger } from '../validate.js';

/** Logical block indices `[first, end)` of a sequence's block table. */
export interface BlockRange {
  readonly first: number;
  readonly end: number;
}

/**
 * The blocks that local-attention layers read when computing queries at positions
 * `[queryStart, queryEnd)`: keys from `max(0, queryStart − windowSize + 1)` to `queryEnd − 1`.
 */
export function windowBlockRange(queryStart: number, queryEnd: number, windowSize: number, blockSize: number):
  BlockRange {
  expectNonNegativeInteger('queryStart', queryStart);
  expectInteger('queryEnd', queryEnd, queryStart + 1);
  expectPositiveInteger('windowSize', windowSize);
  expectPositiveInteger('blockSize', blockSize);
  const firstKey = Math.max(0, queryStart - windowSize + 1);
  return { first: Math.floor(firstKey / blockSize), end: Math.floor((queryEnd - 1) / blockSize) + 1 };
}

/**
 * The most blocks a window of `windowSize` consecutive positions can touch: it starts anywhere inside a
 * block, so ceil((windowSize − 1) / blockSize) + 1 (17 for window 256 and block 16).
 */
export function maxWindowBlocks(windowSize: number, blockSize: number): number {
  expectPositiveInteger('windowSize', windowSize);
  expectPositiveInteger('blockSize', blockSize);
  return Math.ceil((windowSize - 1) / blockSize) + 1;
}

/** Input of {@link kvBytesPerSequence}. */
export interface KvBytesInput {
  /** All transformer layers (12 for GPT-Neo-125M). */
  layers: number;
  /** How many of them are local (sliding-window) layers (6 for GPT-Neo-125M). */
  localLayers: number;
  /** Window of local layers (256 for GPT-Neo). */
  windowSize: number;
  /** Hidden size: K and V each hold `hidden` elements per token per layer. */
  hidden: number;
  /** Tokens in the sequence. */
  contextTokens: number;
  /** Tokens per KV block. */
  blockSize: number;
  /** 4 for fp32, 2 for bf16/fp16. */
  bytesPerElement: number;
}

/** Output of {@link kvBytesPerSequence}. */
export interface KvBytes {
  /** Every layer keeps every block of the sequence (one pool). */
  naiveBytes: number;
  /** Global layers keep every block; local layers keep at most `maxWindowBlocks` blocks (second pool). */
  windowedBytes: number;
  /** naiveBytes − windowedBytes. */
  savedBytes: number;
  /** savedBytes / naiveBytes. */
  savedFraction: number;
}

/** KV memory of one sequence with and without a separate sliding-window pool for local layers. */
export function kvBytesPerSequence(input: KvBytesInput): KvBytes {
  expectObject('input', input);
  const layers = expectPositiveInteger('layers', input.layers);
  const localLayers = expectInteger('localLayers', input.localLayers, 0, layers);
  const windowSize = expectPositiveInteger('windowSize', input.windowSize);
  const hidden = expectPositiveInteger('hidden', input.hidden);
  const contextTokens = expectNonNegativeInteger('contextTokens', input.contextTokens);
  const blockSize = expectPositiveInteger('blockSize', input.blockSize);
  const bytesPerElement = expectPositiveInteger('bytesPerElement', input.bytesPerElement);
  const blockBytesPerLayer = 2 * hidden * blockSize * bytesPerElement;
  const blocks = Math.ceil(contextTokens / blockSize);
  const localBlocks = Math.min(blocks, maxWindowBlocks(windowSize, blockSize));
  const naiveBytes = layers * blocks * blockBytesPerLayer;
  const windowedBytes = ((layers - localLayers) * blocks + localLayers * localBlocks) * blockBytesPerLayer;
  if (!Number.isSafeInteger(naiveBytes)) {
    throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
      `KV size ${naiveBytes} bytes is beyond exact integer range; check the inputs`);
  }
  const savedBytes = naiveBytes - windowedBytes;
  return { naiveBytes, windowedBytes, savedBytes, savedFraction: naiveBytes === 0 ? 0 : savedBytes / naiveBytes };
}
