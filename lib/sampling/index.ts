// Sampling and stop conditions over one row of logits: the TypeScript sampler (the reference), and the
// packing of a step's rows for the native in-step sampler (native-rows.ts, csrc/cpu/row_sampler.h).
export {
  DEFAULT_TEMPERATURE, MAX_LOGIT_BIAS, MAX_PENALTY, MAX_STOP_STRINGS, SAMPLING_OPTION_KEYS, validateSamplingOptions,
  type NormalizedSamplingOptions, type SamplingContext, type SamplingOptions,
} from './options.js';
export { MAX_SEED, Rng, randomSeed } from './rng.js';
export { applyLogitBias, applyPresenceFrequencyPenalties, applyRepetitionPenalty } from './penalties.js';
export { keepAboveMinP, keepNucleus, keepTypical } from './filters.js';
export { argmax, topKIndices } from './select.js';
export { SamplingScratch } from './scratch.js';
export {
  createSamplingState, noUsableLogits, recordToken, sampleToken, samplingDistribution, type RandomSource, type SamplingState,
} from './sample.js';
export { Sampler, type SamplerInit } from './sampler.js';
export { PenaltyHistory } from './history.js';
export {
  packSamplingRows, setStepSampler, stepSampler, type NativeSamplingRow, type NativeSamplingRows, type StepSampler,
} from './native-rows.js';
export { StopStringMatcher, type StopStringStep } from './stop-strings.js';
export { StopConditions, type FinishReason } from './finish.js';
