/**
 * Working memory for sampling one row of logits, sized to the vocabulary and reused across calls so
 * that a sampling step allocates nothing. Sampling is synchronous, so one scratch can serve every
 * request of an engine (or each `Sampler` owns one).
 */
export class SamplingScratch {
  /** The row after logit bias and penalties (a copy; the model's logits are never modified). */
  logits = new Float32Array(0);
  /** Per token id: unnormalized probability exp((logit − max) / temperature); valid for candidates only. */
  weights = new Float64Array(0);
  /** Per token id: the ranking key of the top-p and typical-p filters. */
  keys = new Float64Array(0);
  /** Candidate token ids; the first `count` entries are live (count is returned by each step). */
  ids = new Int32Array(0);
  /** Min-heap for top-k selection. */
  heap = new Int32Array(0);
  /** 0, 1, 2, …: copied into ids when every token is a candidate (a copy costs less than a fill loop). */
  identity = new Int32Array(0);
  /** The candidates' total weight, as the kernels return it. */
  readonly total = new Float64Array(1);

  /** Grows the buffers to hold a row of `vocabSize` logits (never shrinks). */
  ensure(vocabSize: number): void {
    if (this.logits.length >= vocabSize) return;
    this.logits = new Float32Array(vocabSize);
    this.weights = new Float64Array(vocabSize);
    this.keys = new Float64Array(vocabSize);
    this.ids = new Int32Array(vocabSize);
    this.heap = new Int32Array(vocabSize);
    this.identity = Int32Array.from({ length: vocabSize }, (_, i) => i);
  }
}
