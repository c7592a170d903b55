/**
 * One request's sampler: its validated options, its seeded generator, its history (for penalties)
 * and reusable scratch memory. `sample(logits)` picks the next token and records it; or, when the
 * native step samples (native-rows.ts), `nativeRow()` draws this step's uniform and describes the
 * row, and `record(id)` takes the token the step chose.
 */
import { PenaltyHistory } from './history.js';
import { biasArrays, type NativeSamplingRow } from './native-rows.js';
import type { NormalizedSamplingOptions } from './options.js';
import { Rng } from './rng.js';
import { createSamplingState, recordToken, sampleToken, type SamplingState } from './sample.js';
import { SamplingScratch } from './scratch.js';

export interface SamplerInit {
  /** The prompt's token ids (they count for the repetition penalty only). */
  promptIds?: Iterable<number>;
  /** Scratch memory to use; share one across the requests of an engine (sampling is synchronous). */
  scratch?: SamplingScratch;
}

export class Sampler {
  readonly options: NormalizedSamplingOptions;
  readonly state: SamplingState;
  private readonly scratch: SamplingScratch;
  private readonly history: PenaltyHistory;
  private readonly bias: { ids: Int32Array; values: Float64Array };

  constructor(options: NormalizedSamplingOptions, init: SamplerInit = {}) {
    this.options = options;
    const promptIds = [...(init.promptIds ?? [])];
    this.state = createSamplingState(Rng.fromSeed(options.seed), promptIds);
    this.scratch = init.scratch ?? new SamplingScratch();
    this.history = new PenaltyHistory(promptIds, options.repetitionPenalty !== 1,
      options.presencePenalty !== 0 || options.frequencyPenalty !== 0);
    this.bias = biasArrays(options.logitBias);
  }

  /** Picks the next token from a row of logits and records it as generated. */
  sample(logits: Float32Array): number {
    const tokenId = sampleToken(logits, this.options, this.state, this.scratch);
    this.record(tokenId);
    return tokenId;
  }

  /**
   * This step's row for the native sampler: draws the uniform `sampleToken` would draw (one next()
   * unless temperature is 0) and gives the penalty state as views valid until the next record().
   */
  nativeRow(): NativeSamplingRow {
    const u = this.drawUniform();
    const { ids: countIds, counts } = this.history.counts();
    return { options: this.options, u, seenIds: this.history.seenIds(), countIds, counts,
      biasIds: this.bias.ids, biasValues: this.bias.values };
  }

  /**
   * The uniform of a further draw, for a later step of a native run-ahead (the one `nativeRow()` would
   * draw at that step: one next() unless temperature is 0).
   */
  drawUniform(): number {
    return this.options.temperature === 0 ? 0 : this.state.rng.next();
  }

  /** Records a token appended without sampling here (a forced token, or one the native step chose). */
  record(tokenId: number): void {
    recordToken(this.state, tokenId);
    this.history.record(tokenId);
  }
}
