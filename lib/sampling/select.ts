/**
 * Order statistics over one row of logits: argmax and the k largest, without sorting the whole row.
 * NaN counts as -Infinity everywhere; ties go to the lower token id.
 */
import { expectNonNegativeInteger } from '../validate.js';

const valueAt = (row: ArrayLike<number>, i: number): number => {
  const v = row[i];
  return v !== v ? -Infinity : v; // NaN → -Infinity
};

/** Index of the largest value (NaN ignored; ties → lowest index); -1 for an empty row or one of only NaN. */
export function argmax(row: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (v > bestValue || (best < 0 && v === -Infinity)) { best = i; bestValue = v; }
  }
  return best;
}

/** `a` ranks below `b`: smaller value, or the same value and a higher index. */
const ranksBelow = (row: ArrayLike<number>, a: number, b: number): boolean => {
  const va = valueAt(row, a), vb = valueAt(row, b);
  return va < vb || (va === vb && a > b);
};

function siftDown(row: ArrayLike<number>, heap: Int32Array, size: number, at: number): void {
  for (;;) {
    const left = 2 * at + 1;
    if (left >= size) return;
    const right = left + 1;
    const lowest = right < size && ranksBelow(row, heap[right], heap[left]) ? right : left;
    if (!ranksBelow(row, heap[lowest], heap[at])) return;
    const tmp = heap[at]; heap[at] = heap[lowest]; heap[lowest] = tmp;
    at = lowest;
  }
}

/**
 * Fills heap[0..k) with the k highest-ranked indices of the row, as a min-heap whose root is the
 * lowest-ranked of them. O(V log k). Requires 0 < k <= row.length and heap.length >= k.
 */
export function fillTopKHeap(row: ArrayLike<number>, k: number, heap: Int32Array): void {
  for (let i = 0; i < k; i++) heap[i] = i;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(row, heap, k, i);
  let rootValue = valueAt(row, heap[0]);
  for (let i = k; i < row.length; i++) {
    // Later indices lose ties, so only a strictly larger value displaces the root. (NaN > x is false.)
    if (row[i] > rootValue) {
      heap[0] = i;
      siftDown(row, heap, k, 0);
      rootValue = valueAt(row, heap[0]);
    }
  }
}

/** Sorts indices by value, largest first, ties by lower index. */
export function sortByValueDescending(row: ArrayLike<number>, ids: Int32Array): Int32Array {
  return ids.sort((a, b) => (ranksBelow(row, a, b) ? 1 : ranksBelow(row, b, a) ? -1 : 0));
}

/**
 * The indices of the k largest values (k clamped to the row length), largest first, ties broken by the
 * lower index, so exactly min(k, V) indices come back.
 */
export function topKIndices(row: ArrayLike<number>, k: number): Int32Array {
  expectNonNegativeInteger('k', k);
  const n = Math.min(k, row.length);
  if (n === 0) return new Int32Array(0);
  const heap = new Int32Array(n);
  fillTopKHeap(row, n, heap);
  return sortByValueDescending(row, heap);
}
