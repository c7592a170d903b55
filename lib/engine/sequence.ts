/**
 * One sequence's progress through the engine: its tokens (prompt, then generated), how many of
 * them have KV in the cache, and its KV handle. Requests of every kind (generation, forward,
 * embedding) drive one of these.
 */
export class SequenceProgress {
  /** Prompt followed by generated tokens. */
  readonly tokens: number[];
  readonly promptLength: number;
  /** Tokens whose KV is in the cache (prefix-cache hits included). */
  computed = 0;
  /** Handle in the KvCacheManager while admitted, else undefined. */
  seqId: number | undefined;
  /** Prompt tokens that came from the prefix cache at (the latest) admission. */
  cachedPromptTokens = 0;

  constructor(promptIds: readonly number[]) {
    this.tokens = promptIds.slice();
    this.promptLength = promptIds.length;
  }

  get pending(): number {
    return this.tokens.length - this.computed;
  }

  get generated(): number {
    return this.tokens.length - this.promptLength;
  }
}
