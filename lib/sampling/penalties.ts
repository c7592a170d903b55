/**
 * Logit processors that depend on the request's history, applied in place to one row of logits
 * (a working copy, never the model's output). Each touches only the token ids it concerns.
 */

/** Adds `bias` to the logit of each listed token id (OpenAI `logit_bias`). */
export function applyLogitBias(logits: Float32Array, bias: ReadonlyMap<number, number>): void {
  for (const [id, value] of bias) logits[id] += value;
}

/**
 * Hugging Face `RepetitionPenaltyLogitsProcessor`: for each distinct id already seen (prompt and
 * generated), a negative logit is multiplied by `penalty` and a non-negative one divided by it, so a
 * penalty > 1 always makes a seen token less likely. Ids outside the row are ignored.
 */
export function applyRepetitionPenalty(logits: Float32Array, seenIds: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of seenIds) {
    if (id < 0 || id >= logits.length) continue;
    const logit = logits[id];
    logits[id] = logit < 0 ? logit * penalty : logit / penalty;
  }
}

/**
 * OpenAI presence and frequency penalties:
 *   logit[j] -= presence · (count[j] > 0) + frequency · count[j]
 * where count[j] is how many times token j has been generated so far in this request (the prompt does
 * not count). Ids outside the row are ignored.
 */
export function applyPresenceFrequencyPenalties(logits: Float32Array, generatedCounts: ReadonlyMap<number, number>,
  presence: number, frequency: number): void {
  if (presence === 0 && frequency === 0) return;
  for (const [id, count] of generatedCounts) {
    if (count <= 0 || id < 0 || id >= logits.length) continue;
    logits[id] -= presence + frequency * count;
  }
}
