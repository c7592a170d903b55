/**
 * Truncation filters over a candidate set, with Hugging Face semantics (TopP, MinP and Typical
 * logits warpers). A candidate set is `ids[0..count)` with an unnormalized probability
 * `weights[id]` > 0 for each; each filter reorders/compacts `ids` in place and returns the new count,
 * always keeping at least one token.
 */

/** Sorts candidates by weight, largest first, ties by lower id. */
function sortByWeightDescending(ids: Int32Array, count: number, weights: Float64Array): void {
  ids.subarray(0, count).sort((a, b) => weights[b] - weights[a] || a - b);
}

/**
 * Nucleus (top-p): keeps, in order of decreasing probability, every token whose preceding mass is
 * below `topP` — the smallest prefix whose mass reaches topP. `total` is the mass the probabilities
 * are normalized by (the candidates' sum, or the whole row's when the candidates are a pre-filtered
 * superset of the nucleus). Leaves the kept ids sorted by decreasing weight.
 */
export function keepNucleus(ids: Int32Array, count: number, weights: Float64Array, total: number, topP: number): number {
  sortByWeightDescending(ids, count, weights);
  const limit = topP * total;
  let before = 0;
  let kept = 0;
  while (kept < count && (kept === 0 || before < limit)) {
    before += weights[ids[kept]];
    kept++;
  }
  return kept;
}

/** Min-p: drops tokens whose probability is below minP × the largest probability. Keeps the order. */
export function keepAboveMinP(ids: Int32Array, count: number, weights: Float64Array, minP: number): number {
  let top = 0;
  for (let i = 0; i < count; i++) top = Math.max(top, weights[ids[i]]);
  const floor = minP * top;
  let kept = 0;
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    if (weights[id] >= floor) ids[kept++] = id;
  }
  return kept;
}

/**
 * Locally typical sampling (Hugging Face `TypicalLogitsWarper`): with p the candidates' normalized
 * probabilities and H their entropy, ranks tokens by |−log p − H| ascending, finds the first rank where
 * the cumulative probability reaches `mass`, and keeps every token whose distance is at most that
 * rank's distance (so ties at the boundary stay). `keys` is per-id scratch.
 */
export function keepTypical(ids: Int32Array, count: number, weights: Float64Array, keys: Float64Array, mass: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += weights[ids[i]];
  const logTotal = Math.log(total);
  let entropy = 0;
  for (let i = 0; i < count; i++) {
    const w = weights[ids[i]];
    entropy -= (w / total) * (Math.log(w) - logTotal);
  }
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    keys[id] = Math.abs(logTotal - Math.log(weights[id]) - entropy);
  }
  ids.subarray(0, count).sort((a, b) => keys[a] - keys[b] || a - b);
  let boundary = count - 1;
  let cumulative = 0;
  for (let i = 0; i < count; i++) {
    cumulative += weights[ids[i]] / total;
    if (cumulative >= mass) { boundary = i; break; }
  }
  const limit = keys[ids[boundary]];
  let kept = boundary + 1;
  while (kept < count && keys[ids[kept]] <= limit) kept++;
  return kept;
}
