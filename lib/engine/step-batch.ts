/**
 * Packs the work chosen for one step into the native batch layout: the new tokens of each
 * sequence back to back (no padding), their positions, row offsets and block tables.
 */
import type { NativeStepBatch } from '../native/types.js';
import type { SequenceProgress } from './sequence.js';

export interface StepItem {
  seq: SequenceProgress;
  /** Block ids of the sequence in position order. */
  blockTable: Int32Array;
  /** The local-layer pool's table (same length; -1 for blocks out of the window), when there is one. */
  localTable?: Int32Array;
  /** How many of the sequence's pending tokens this step computes (from seq.computed on). */
  count: number;
}

export function packStepBatch(items: readonly StepItem[], outputRows: Int32Array,
  output: NativeStepBatch['output']): NativeStepBatch {
  let total = 0;
  let maxBlocks = 1;
  for (const it of items) {
    total += it.count;
    maxBlocks = Math.max(maxBlocks, it.blockTable.length);
  }
  const tokenIds = new Int32Array(total);
  const positions = new Int32Array(total);
  const seqStarts = new Int32Array(items.length + 1);
  const blockTables = new Int32Array(items.length * maxBlocks);
  const local = items.length > 0 && items[0]!.localTable !== undefined;
  const localBlockTables = local ? new Int32Array(items.length * maxBlocks).fill(-1) : undefined;
  let row = 0;
  items.forEach((it, s) => {
    seqStarts[s] = row;
    const from = it.seq.computed;
    for (let i = 0; i < it.count; i++) {
      tokenIds[row + i] = it.seq.tokens[from + i]!;
      positions[row + i] = from + i;
    }
    row += it.count;
    blockTables.set(it.blockTable, s * maxBlocks);
    if (localBlockTables) localBlockTables.set(it.localTable!, s * maxBlocks);
  });
  seqStarts[items.length] = row;
  return { tokenIds, positions, seqStarts, blockTables, ...(localBlockTables ? { localBlockTables } : {}), maxBlocks,
    outputRows, output };
}
