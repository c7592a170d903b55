/**
 * Choosing the next token from one row of logits, in Hugging Face's order:
 *   logit bias → repetition penalty → presence/frequency penalties →
 *   temperature 0: argmax (ties → lowest id), else temperature → top-k → top-p → min-p → typical-p →
 *   softmax → one draw from the request's generator.
 *
 * NaN logits count as -Infinity. If +Infinity logits remain, the draw is uniform among them. If no
 * token has a finite or +Infinity logit (the model produced nothing usable), sampling throws
 * GptNeoError ERR_GPTNEO_INTERNAL rather than invent a token.
 *
 * Cost per call: one O(V) copy of the row when bias or penalties apply; greedy is one O(V) scan. Sampling adds O(V) exp's when
 * top-k is off (min-p without top-p skips the exp's of the tokens it drops), or O(V log k) selection
 * and O(k) exp's when it is on. The O(V) scans, the top-k selection and the exp's run in the native
 * kernels when the addon loads (kernels.ts). Top-p and typical-p select their tokens by cumulative mass in expected
 * linear time (no full sort), top-p only among the tokens above a probability floor that provably
 * contains the nucleus. No O(V) allocation beyond the reusable scratch.
 *
 * The engine normally runs this decision natively, inside the model step (csrc/cpu/row_sampler.cpp,
 * a step-for-step port; native-rows.ts packs its inputs): this function is its reference, the path
 * `setStepSampler('typescript')` forces, and the fallback where the addon cannot sample in a step.
 * Keep the two in step: test/20.sampling-native-step compares them on every option combination.
 */
import { GptNeoError } from '../errors.js';
import { keepAboveMinP, keepTypical } from './filters.js';
import type { NormalizedSamplingOptions } from './options.js';
import { applyLogitBias, applyPresenceFrequencyPenalties, applyRepetitionPenalty } from './penalties.js';
import { SamplingScratch } from './scratch.js';
import { samplingKernels } from './kernels.js';

/** A source of uniform floats in [0, 1); `Rng` is the one requests use. */
export interface RandomSource {
  next(): number;
}

/** What sampling needs to know about one request's history. */
export interface SamplingState {
  /** The request's generator; each non-greedy draw consumes exactly one `next()`. Greedy consumes none. */
  readonly rng: RandomSource;
  /** How many times each token id has been generated (presence/frequency penalties; the prompt is not counted). */
  readonly tokenCounts: Map<number, number>;
  /** Every distinct token id of the prompt and of the generated tokens (repetition penalty). */
  readonly promptAndGeneratedIds: Set<number>;
}

/** A new state for a request whose prompt is `promptIds`. */
export function createSamplingState(rng: RandomSource, promptIds: Iterable<number> = []): SamplingState {
  return { rng, tokenCounts: new Map(), promptAndGeneratedIds: new Set(promptIds) };
}

/** Records a generated token in the state (call once per token appended to the sequence). */
export function recordToken(state: SamplingState, tokenId: number): void {
  state.tokenCounts.set(tokenId, (state.tokenCounts.get(tokenId) ?? 0) + 1);
  state.promptAndGeneratedIds.add(tokenId);
}

/** The error of a row with no usable logit (also what the engine reports when the native step finds one). */
export function noUsableLogits(): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_INTERNAL', 'Cannot sample: every logit is NaN or -Infinity',
    { hint: 'the model produced no usable scores for this step (numerical failure in the forward pass)' });
}

/** True when logit bias or a penalty would change some logit of this step. */
function changesLogits(opts: NormalizedSamplingOptions, state: SamplingState): boolean {
  return opts.logitBias.size > 0
    || (opts.repetitionPenalty !== 1 && state.promptAndGeneratedIds.size > 0)
    || ((opts.presencePenalty !== 0 || opts.frequencyPenalty !== 0) && state.tokenCounts.size > 0);
}

/**
 * The row the filters read: the caller's logits themselves when nothing changes them (every step
 * below is NaN-safe), else a copy in the scratch (NaN → -Infinity) with bias and penalties applied.
 */
function processedRow(logits: Float32Array, opts: NormalizedSamplingOptions, state: SamplingState,
  scratch: SamplingScratch): Float32Array {
  scratch.ensure(logits.length);
  if (!changesLogits(opts, state)) return logits;
  const work = scratch.logits.subarray(0, logits.length);
  samplingKernels().copyRow(logits, work);
  applyLogitBias(work, opts.logitBias);
  applyRepetitionPenalty(work, state.promptAndGeneratedIds, opts.repetitionPenalty);
  applyPresenceFrequencyPenalties(work, state.tokenCounts, opts.presencePenalty, opts.frequencyPenalty);
  return work;
}

/** Fills ids with the top-k candidates (plus any tied with the k-th, as Hugging Face keeps them); returns the count. */
function topKCandidates(work: Float32Array, k: number, scratch: SamplingScratch): number {
  return samplingKernels().topKCandidates(work, k, scratch.ids, scratch.heap);
}

/**
 * Sets weights[id] = exp((logit − max) / temperature) for each candidate, drops candidates whose
 * weight is 0, and returns [count, total weight]. With +Infinity logits present, those weigh 1 and
 * the rest 0.
 */
function weighCandidates(work: Float32Array, count: number, temperature: number, scratch: SamplingScratch): [number, number] {
  const kept = samplingKernels().weighCandidates(work, scratch.ids, count, temperature, scratch.weights, scratch.total);
  if (kept < 0) throw noUsableLogits();
  return [kept, scratch.total[0]!];
}

/**
 * Keeps only candidates with probability >= (1 − topP) / (2V). The tokens dropped hold less than half
 * of the mass 1 − topP, and each is less likely than every token kept, so the nucleus lies entirely
 * within the kept set, which is usually far smaller than V.
 */
function dropBelowNucleusFloor(count: number, total: number, topP: number, vocabSize: number, scratch: SamplingScratch): number {
  const floor = (total * (1 - topP)) / (2 * vocabSize);
  return samplingKernels().keepAboveWeightFloor(scratch.weights, scratch.ids, count, floor);
}

/**
 * When min-p is the first probability filter (top-p off), drops in logit space — without computing
 * exp — the tokens min-p will surely drop: exp((logit − max) / T) < minP exactly when
 * (logit − max) / T < ln(minP); a margin of 1e-9 leaves the borderline ones to the exact test.
 */
function dropBelowMinPFloor(work: Float32Array, count: number, temperature: number, minP: number,
  scratch: SamplingScratch): number {
  return samplingKernels().keepAboveLogitFloor(work, scratch.ids, count, temperature, Math.log(minP) - 1e-9);
}

function sumWeights(ids: Int32Array, count: number, weights: Float64Array): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += weights[ids[i]];
  return total;
}

/**
 * Runs the filters of the non-greedy path: leaves the surviving candidates in scratch.ids[0..count)
 * with their unnormalized probabilities in scratch.weights, and returns [count, total weight].
 */
function filterCandidates(work: Float32Array, opts: NormalizedSamplingOptions, scratch: SamplingScratch): [number, number] {
  const vocabSize = work.length;
  const { ids, weights } = scratch;
  const topKActive = opts.topK > 0 && opts.topK < vocabSize;
  let count: number;
  if (topKActive) {
    count = topKCandidates(work, opts.topK, scratch);
  } else {
    ids.set(scratch.identity.subarray(0, vocabSize));
    count = vocabSize;
  }
  if (opts.minP > 0 && opts.topP === 1) count = dropBelowMinPFloor(work, count, opts.temperature, opts.minP, scratch);
  let total: number;
  [count, total] = weighCandidates(work, count, opts.temperature, scratch);

  if (opts.topP < 1) {
    if (!topKActive) count = dropBelowNucleusFloor(count, total, opts.topP, vocabSize, scratch);
    count = samplingKernels().keepNucleus(ids, count, weights, scratch.keys, total, opts.topP);
    total = sumWeights(ids, count, weights);
  }
  if (opts.minP > 0) {
    count = keepAboveMinP(ids, count, weights, opts.minP);
    total = sumWeights(ids, count, weights);
  }
  if (opts.typicalP < 1) {
    count = keepTypical(ids, count, weights, scratch.keys, opts.typicalP);
    total = sumWeights(ids, count, weights);
  }
  return [count, total];
}

function greedyToken(work: Float32Array): number {
  const best = samplingKernels().argmax(work);
  if (best < 0 || work[best] === -Infinity) throw noUsableLogits();
  return best;
}

/**
 * The next token id for one row of logits (length V = vocabulary size). Does not modify `logits` or
 * the state's counts (call `recordToken` with the result); advances `state.rng` by one draw unless
 * temperature is 0. Pass a `scratch` reused across calls to avoid allocating O(V) each time.
 */
export function sampleToken(logits: Float32Array, opts: NormalizedSamplingOptions, state: SamplingState,
  scratch: SamplingScratch = new SamplingScratch()): number {
  if (logits.length === 0) throw noUsableLogits();
  const work = processedRow(logits, opts, state, scratch);
  if (opts.temperature === 0) return greedyToken(work);

  const [count, total] = filterCandidates(work, opts, scratch);
  const { ids, weights } = scratch;
  const target = state.rng.next() * total;
  let cumulative = 0;
  for (let i = 0; i < count; i++) {
    cumulative += weights[ids[i]];
    if (target < cumulative) return ids[i];
  }
  return ids[count - 1]; // rounding left target at the very top of the range
}

/**
 * The distribution `sampleToken` would draw from, as token id → probability (only tokens that can
 * be drawn; greedy gives the argmax with probability 1). Consumes no randomness. It allocates a Map,
 * so it is meant for tests, debugging and log-probability reports, not the per-token hot path.
 */
export function samplingDistribution(logits: Float32Array, opts: NormalizedSamplingOptions, state: SamplingState,
  scratch: SamplingScratch = new SamplingScratch()): Map<number, number> {
  if (logits.length === 0) throw noUsableLogits();
  const work = processedRow(logits, opts, state, scratch);
  if (opts.temperature === 0) return new Map([[greedyToken(work), 1]]);
  const [count, total] = filterCandidates(work, opts, scratch);
  const distribution = new Map<number, number>();
  for (let i = 0; i < count; i++) distribution.set(scratch.ids[i], scratch.weights[scratch.ids[i]] / total);
  return distribution;
}
