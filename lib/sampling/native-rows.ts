/**
 * The sampling half of a native step with output 'sample' (csrc/napi/step_sampling.h): for each
 * output row, the request's normalized options, the uniform its generator drew for this step, and its
 * penalty state, packed into flat typed arrays. The native sampler (csrc/cpu/row_sampler.h) then makes
 * the same decision as `sampleToken` would on that row, off the JavaScript thread.
 *
 * The generator stays here: `sampleToken` consumes exactly one `next()` per non-greedy draw and none
 * for greedy, so drawing it before the step keeps every seeded stream identical.
 */
import type { NormalizedSamplingOptions } from './options.js';

/** One output row of a sampling step. */
export interface NativeSamplingRow {
  options: NormalizedSamplingOptions;
  /** The request's next() for this draw; 0 (unused) for temperature 0. */
  u: number;
  /** Distinct prompt + generated ids (empty when the repetition penalty is off). */
  seenIds: Int32Array;
  /** Generated ids and their counts (empty when presence and frequency penalties are off). */
  countIds: Int32Array;
  counts: Int32Array;
  /** The options' logit bias as arrays (empty when none). */
  biasIds: Int32Array;
  biasValues: Float64Array;
}

/** The step's `sampling` argument: one entry per output row, lists as (starts, values). */
export interface NativeSamplingRows {
  temperature: Float64Array;
  topK: Int32Array;
  topP: Float64Array;
  minP: Float64Array;
  typicalP: Float64Array;
  repetitionPenalty: Float64Array;
  presencePenalty: Float64Array;
  frequencyPenalty: Float64Array;
  u: Float64Array;
  biasStarts: Int32Array;
  biasIds: Int32Array;
  biasValues: Float64Array;
  seenStarts: Int32Array;
  seenIds: Int32Array;
  countStarts: Int32Array;
  countIds: Int32Array;
  counts: Int32Array;
}

/** A logit bias map as (ids, values) arrays, in the map's order. */
export function biasArrays(bias: ReadonlyMap<number, number>): { ids: Int32Array; values: Float64Array } {
  return { ids: Int32Array.from(bias.keys()), values: Float64Array.from(bias.values()) };
}

function concat<T extends Int32Array | Float64Array>(parts: readonly T[], make: (n: number) => T): { starts: Int32Array; all: T } {
  const starts = new Int32Array(parts.length + 1);
  parts.forEach((p, i) => { starts[i + 1] = starts[i]! + p.length; });
  const all = make(starts[parts.length]!);
  parts.forEach((p, i) => all.set(p, starts[i]!));
  return { starts, all };
}

export function packSamplingRows(rows: readonly NativeSamplingRow[]): NativeSamplingRows {
  const n = rows.length;
  const f64 = (pick: (r: NativeSamplingRow) => number): Float64Array => Float64Array.from(rows, pick);
  const bias = concat(rows.map((r) => r.biasIds), (k) => new Int32Array(k));
  const seen = concat(rows.map((r) => r.seenIds), (k) => new Int32Array(k));
  const countIds = concat(rows.map((r) => r.countIds), (k) => new Int32Array(k));
  return {
    temperature: f64((r) => r.options.temperature),
    // topK >= vocabulary size means off on either side; the clamp keeps it an int32.
    topK: Int32Array.from({ length: n }, (_, i) => Math.min(rows[i]!.options.topK, 0x7fffffff)),
    topP: f64((r) => r.options.topP),
    minP: f64((r) => r.options.minP),
    typicalP: f64((r) => r.options.typicalP),
    repetitionPenalty: f64((r) => r.options.repetitionPenalty),
    presencePenalty: f64((r) => r.options.presencePenalty),
    frequencyPenalty: f64((r) => r.options.frequencyPenalty),
    u: f64((r) => r.u),
    biasStarts: bias.starts,
    biasIds: bias.all,
    biasValues: concat(rows.map((r) => r.biasValues), (k) => new Float64Array(k)).all,
    seenStarts: seen.starts,
    seenIds: seen.all,
    countStarts: countIds.starts,
    countIds: countIds.all,
    counts: concat(rows.map((r) => r.counts), (k) => new Int32Array(k)).all,
  };
}

/** Where an engine samples its rows: 'native' (in the step, when the addon can) or 'typescript'. */
export type StepSampler = 'native' | 'typescript';

let stepSamplerChoice: StepSampler = 'native';

/** The current choice (engines read it at every step). */
export function stepSampler(): StepSampler {
  return stepSamplerChoice;
}

/**
 * Chooses where engines sample (tests and the benchmark compare the two; 'typescript' downloads each
 * row's logits and runs `sampleToken` on the JavaScript thread). Returns the previous choice.
 */
export function setStepSampler(choice: StepSampler): StepSampler {
  if (choice !== 'native' && choice !== 'typescript') throw new TypeError(`Expected 'native' or 'typescript' but received ${String(choice)}`);
  const previous = stepSamplerChoice;
  stepSamplerChoice = choice;
  return previous;
}
