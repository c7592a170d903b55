/**
 * Selecting the leading tokens of a ranking by cumulative probability mass without sorting every
 * candidate: the shared core of top-p (ranked by probability) and typical-p (ranked by distance from
 * the entropy).
 *
 * Ranking: `keys[id]` ascending, ties by lower id. A token is kept when the mass of the tokens ranked
 * before it is below `limit` (so the kept tokens are the shortest leading run whose mass reaches
 * `limit`). A quickselect with three-way partitions narrows down to the boundary in expected O(n);
 * only the small final range and the block of tokens tied with a pivot are sorted.
 */

const SMALL_RANGE = 24;
const MAX_PARTITION_DEPTH = 64;

function rankedBefore(keys: Float64Array, a: number, b: number): boolean {
  return keys[a] < keys[b] || (keys[a] === keys[b] && a < b);
}

/** Sorts ids[lo..hi) by (key, id); insertion sort for short ranges. */
function sortRange(ids: Int32Array, lo: number, hi: number, keys: Float64Array): void {
  if (hi - lo > SMALL_RANGE) {
    ids.subarray(lo, hi).sort((a, b) => keys[a] - keys[b] || a - b);
    return;
  }
  for (let i = lo + 1; i < hi; i++) {
    const id = ids[i];
    let j = i - 1;
    while (j >= lo && rankedBefore(keys, id, ids[j])) { ids[j + 1] = ids[j]; j--; }
    ids[j + 1] = id;
  }
}

function medianOfThree(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
}

/** Moves the first-ranked candidate to ids[0]. */
function moveFirstRankedToFront(ids: Int32Array, count: number, keys: Float64Array): void {
  let best = 0;
  for (let i = 1; i < count; i++) if (rankedBefore(keys, ids[i], ids[best])) best = i;
  const id = ids[best]; ids[best] = ids[0]; ids[0] = id;
}

/**
 * Reorders ids[0..count) so that the kept tokens come first (in no particular order) and returns how
 * many are kept: every token whose preceding mass is below `limit`, at least one, and with
 * `keepTiesWithLast` also every token whose key equals the last kept token's key.
 * Weights must be positive and keys must not be NaN.
 */
export function selectLeadingMass(ids: Int32Array, count: number, keys: Float64Array, weights: Float64Array,
  limit: number, keepTiesWithLast: boolean): number {
  if (count === 0) return 0;
  if (!(limit > 0)) {
    moveFirstRankedToFront(ids, count, keys);
    if (!keepTiesWithLast) return 1;
    const key = keys[ids[0]];
    let kept = 1;
    for (let i = 1; i < count; i++) {
      const id = ids[i];
      if (keys[id] === key) { ids[i] = ids[kept]; ids[kept++] = id; }
    }
    return kept;
  }
  // Invariant: ids[0..lo) are kept, their mass is `before` < limit, and every token of ids[hi..count)
  // ranks after every token of ids[lo..hi) with a strictly larger key, and is not kept.
  let lo = 0;
  let hi = count;
  let before = 0;
  for (let depth = 0; ; depth++) {
    if (hi - lo <= SMALL_RANGE || depth > MAX_PARTITION_DEPTH) {
      sortRange(ids, lo, hi, keys);
      let kept = lo;
      while (kept < hi && (kept === lo || before < limit)) { before += weights[ids[kept]]; kept++; }
      if (keepTiesWithLast) {
        const key = keys[ids[kept - 1]];
        while (kept < hi && keys[ids[kept]] === key) kept++;
      }
      return kept;
    }
    const pivot = medianOfThree(keys[ids[lo]], keys[ids[(lo + hi) >>> 1]], keys[ids[hi - 1]]);
    // Three-way partition: [lo, less) key < pivot, [less, greater) key == pivot, [greater, hi) key > pivot.
    let less = lo;
    let greater = hi;
    let massLess = 0;
    for (let i = lo; i < greater;) {
      const id = ids[i];
      const key = keys[id];
      if (key < pivot) {
        ids[i] = ids[less]; ids[less] = id; less++; i++;
        massLess += weights[id];
      } else if (key > pivot) {
        greater--; ids[i] = ids[greater]; ids[greater] = id;
      } else {
        i++;
      }
    }
    if (before + massLess >= limit) { // the boundary lies among the smaller keys (there are some: massLess > 0)
      hi = less;
      continue;
    }
    before += massLess;
    ids.subarray(less, greater).sort(); // the pivot's ties, by id
    let kept = less;
    while (kept < greater && before < limit) { before += weights[ids[kept]]; kept++; }
    if (before >= limit) return keepTiesWithLast ? greater : kept;
    lo = greater;
    if (lo >= hi) return hi;
  }
}
