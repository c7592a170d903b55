/**
 * Truncation filters over a candidate set, with Hugging Face semantics (TopP, MinP and Typical
 * logits warpers). A candidate set is `ids[0..count)` with an unnormalized probability
 * `weights[id]` > 0 for each; each filter reorders/compacts `ids` in place and returns the new count,
 * always keeping at least one token.
 */
import { selectLeadingMass } from './mass-select.js';

/**
 * Nucleus (top-p): keeps every token whose preceding mass, ranked by decreasing probability (ties:
 * lower id first), is below `topP` — the smallest leading set whose mass reaches topP; at least one.
 * The kept tokens are left in increasing id order (as Hugging Face's multinomial draw walks the
 * vocabulary), so the token a draw lands on depends only on which tokens the nucleus holds — which is
 * what lets a GPU serve a top-p row from its top candidates (csrc/cpu/candidate_sampler.h).
 * `total` is the mass the probabilities are normalized by (the candidates' sum, or the whole row's when
 * the candidates are a pre-filtered superset of the nucleus). `keys` is per-id scratch. Expected
 * O(count), plus sorting the kept ids.
 */
export function keepNucleus(ids: Int32Array, count: number, weights: Float64Array, keys: Float64Array,
  total: number, topP: number): number {
  for (let i = 0; i < count; i++) keys[ids[i]] = -weights[ids[i]];
  const kept = selectLeadingMass(ids, count, keys, weights, topP * total, false);
  ids.subarray(0, kept).sort();
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
 * rank's distance (so ties at the boundary stay). `keys` is per-id scratch. O(count) logs plus an
 * expected O(count) selection.
 */
export function keepTypical(ids: Int32Array, count: number, weights: Float64Array, keys: Float64Array, mass: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += weights[ids[i]];
  const logTotal = Math.log(total);
  let entropy = 0;
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    const logWeight = Math.log(weights[id]);
    keys[id] = logWeight;
    entropy -= (weights[id] / total) * (logWeight - logTotal);
  }
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    keys[id] = Math.abs(logTotal - keys[id] - entropy); // |−log p − H|
  }
  return selectLeadingMass(ids, count, keys, weights, mass * total, true);
}
