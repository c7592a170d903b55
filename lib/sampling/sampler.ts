/**
 * One request's sampler: its validated options, its seeded generator, its history (for penalties)
 * and reusable scratch memory. `sample(logits)` picks the next token and records it.
 */
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

  constructor(options: NormalizedSamplingOptions, init: SamplerInit = {}) {
    this.options = options;
    this.state = createSamplingState(Rng.fromSeed(options.seed), init.promptIds);
    this.scratch = init.scratch ?? new SamplingScratch();
  }

  /** Picks the next token from a row of logits and records it as generated. */
  sample(logits: Float32Array): number {
    const tokenId = sampleToken(logits, this.options, this.state, this.scratch);
    recordToken(this.state, tokenId);
    return tokenId;
  }

  /** Records a token appended without sampling (for example a forced token), so penalties see it. */
  record(tokenId: number): void {
    recordToken(this.state, tokenId);
  }
}
