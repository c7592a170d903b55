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
  });
  seqStarts[items.length] = row;
  return { tokenIds, positions, seqStarts, blockTables, maxBlocks, outputRows, output };
}
