/**
 * What the engine reports back for generation: streamed chunks and the final result.
 */
import type { FinishReason } from '../sampling/index.js';

export type { FinishReason };

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens whose KV came from the prefix cache (not recomputed). */
  cachedPromptTokens: number;
}

/** One streamed piece: a generated token and the text it completed (possibly empty). */
export interface GenerationChunk {
  text: string;
  /** The generated token; -1 on a final chunk that ends a request without a new token (an abort). */
  tokenId: number;
  /** Set on the last chunk only. */
  finishReason?: FinishReason;
  /** Set on the last chunk only. */
  usage?: Usage;
}

export interface GenerationResult {
  text: string;
  /** The new tokens only (not the prompt). */
  tokenIds: number[];
  finishReason: FinishReason;
  usage: Usage;
}

/** The tokenizer features the engine uses (lib/tokenizer implements them). */
export interface TextDecoderSource {
  createStreamDecoder(): { push(id: number): string; flush(): string };
}
