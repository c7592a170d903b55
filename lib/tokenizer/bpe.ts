/**
 * Byte-pair merging over small integer arrays. The input holds the ids of a pre-token's bytes;
 * the lowest-ranked adjacent pair is merged repeatedly (leftmost first among equal ranks, which
 * is the same as Hugging Face merging every occurrence of the best pair left to right, because
 * a merge never recreates its own pair). Short pieces use a flat array with linear scans; long
 * ones a linked list and a binary heap, so pathological inputs stay O(n log n).
 */
import type { MergeTable } from './merge-table.js';

const NONE = 0x7fffffff;
/** Pieces up to this many bytes use the flat O(n²) merge loop; it is faster for typical words. */
export const FLAT_LIMIT = 96; // exported so tests can straddle it

const flatRanks = new Int32Array(FLAT_LIMIT);
const flatResults = new Int32Array(FLAT_LIMIT);

/**
 * Merges `ids[0..n)` in place and returns the new length.
 */
export function mergePiece(ids: Int32Array, n: number, merges: MergeTable): number {
  if (n < 2) return n;
  return n <= FLAT_LIMIT ? mergeFlat(ids, n, merges) : mergeWithHeap(ids, n, merges);
}

function mergeFlat(ids: Int32Array, n: number, merges: MergeTable): number {
  const ranks = flatRanks;
  const results = flatResults;
  for (let i = 0; i < n - 1; i++) {
    const slot = merges.find(ids[i]!, ids[i + 1]!);
    if (slot < 0) ranks[i] = NONE;
    else { ranks[i] = merges.rankAt(slot); results[i] = merges.resultAt(slot); }
  }
  while (n > 1) {
    let best = NONE;
    let at = -1;
    for (let i = 0; i < n - 1; i++) {
      const r = ranks[i]!;
      if (r < best) { best = r; at = i; }
    }
    if (at < 0) break;
    ids[at] = results[at]!;
    // Remove symbol at+1 and the pair entry at `at`+1 by shifting left.
    for (let k = at + 1; k < n - 1; k++) {
      ids[k] = ids[k + 1]!;
      ranks[k] = ranks[k + 1]!;
      results[k] = results[k + 1]!;
    }
    n--;
    if (at > 0) refreshPair(ids, at - 1, merges);
    if (at < n - 1) refreshPair(ids, at, merges);
  }
  return n;
}

function refreshPair(ids: Int32Array, i: number, merges: MergeTable): void {
  const slot = merges.find(ids[i]!, ids[i + 1]!);
  if (slot < 0) flatRanks[i] = NONE;
  else { flatRanks[i] = merges.rankAt(slot); flatResults[i] = merges.resultAt(slot); }
}

/** Linked list + min-heap of (rank, position) packed as rank * n + position in a Float64Array. */
function mergeWithHeap(ids: Int32Array, n: number, merges: MergeTable): number {
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) { next[i] = i + 1; prev[i] = i - 1; }
  const heap = new Float64Array(3 * n); // n - 1 initial pairs + at most 2 per merge
  let size = 0;
  const push = (key: number): void => {
    let i = size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]! <= key) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = key;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap[--size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && heap[child + 1]! < heap[child]!) child++;
      if (heap[child]! >= last) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  };
  const pairRank = (i: number): number => {
    const j = next[i]!;
    return j < n ? merges.rank(ids[i]!, ids[j]!) : -1;
  };
  const offer = (i: number): void => {
    const r = pairRank(i);
    if (r >= 0) {
      if (size === heap.length) throw new RangeError('BPE heap overflow');
      push(r * n + i);
    }
  };
  for (let i = 0; i < n - 1; i++) offer(i);
  while (size > 0) {
    const key = pop();
    const i = key % n;
    const rank = (key - i) / n;
    if (!alive[i] || pairRank(i) !== rank) continue; // stale entry
    const j = next[i]!;
    ids[i] = merges.resultAt(merges.find(ids[i]!, ids[j]!));
    alive[j] = 0;
    next[i] = next[j]!;
    if (next[j]! < n) prev[next[j]!] = i;
    if (prev[i]! >= 0) offer(prev[i]!);
    offer(i);
  }
  let w = 0;
  for (let i = 0; i < n; i = next[i]!) ids[w++] = ids[i]!;
  return w;
}
