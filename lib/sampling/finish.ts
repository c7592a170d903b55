/**
 * When a request is finished, by token: its end-of-sequence token, a stop token id, its token limit,
 * or an abort. Stop strings are matched on text by `StopStringMatcher` and also finish with 'stop'.
 */
import type { NormalizedSamplingOptions } from './options.js';

/**
 * Why generation ended: 'stop' (EOS, a stop token id or a stop string), 'length' (maxNewTokens or the
 * context size reached), 'abort' (the request's signal fired).
 */
export type FinishReason = 'stop' | 'length' | 'abort';

export class StopConditions {
  private readonly eosTokenId: number | undefined;
  private readonly stopTokenIds: ReadonlySet<number>;
  private readonly maxNewTokens: number;
  private readonly signal: AbortSignal | undefined;

  /**
   * @param model.eosTokenId the model's end-of-sequence id (ignored with options.ignoreEos; none when undefined)
   * @param model.tokenLimit an extra cap on generated tokens from the engine, e.g. the room left in the context
   */
  constructor(options: NormalizedSamplingOptions, model: { eosTokenId?: number; tokenLimit?: number } = {}) {
    this.eosTokenId = options.ignoreEos ? undefined : model.eosTokenId;
    this.stopTokenIds = new Set(options.stopTokenIds);
    this.maxNewTokens = Math.min(options.maxNewTokens ?? Infinity, model.tokenLimit ?? Infinity);
    this.signal = options.signal;
  }

  /** 'abort' if the signal has fired, else undefined; check before scheduling each step. */
  beforeStep(): FinishReason | undefined {
    return this.signal?.aborted ? 'abort' : undefined;
  }

  /** Tokens that may still be generated after `generated` of them (Infinity without a limit). */
  tokensLeft(generated: number): number {
    return this.maxNewTokens - generated;
  }

  /**
   * After a token was generated (`generated` counts it): 'stop' for EOS or a stop token id (they win
   * over the limit), 'length' when the limit is reached, 'abort' if the signal fired, else undefined.
   */
  afterToken(tokenId: number, generated: number): FinishReason | undefined {
    if (tokenId === this.eosTokenId || this.stopTokenIds.has(tokenId)) return 'stop';
    if (generated >= this.maxNewTokens) return 'length';
    return this.beforeStep();
  }
}
