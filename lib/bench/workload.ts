/**
 * The model benchmark's workload, shared by our figures (model-bench.ts) and the peers
 * (peers/onnxruntime.ts) so both run the same token ids under the same row names.
 */

export interface Workload {
  prefillLen: number;
  /** New tokens per decode stream (the first comes from the prefill and is not timed). */
  newTokens: number;
  /** Concurrent decode streams per row. */
  streams: number[];
  decodePromptLen: number;
  embedTexts: number;
  embedLen: number;
}

export function workload(quick: boolean): Workload {
  return {
    prefillLen: quick ? 128 : 512,
    newTokens: quick ? 16 : 128,
    streams: quick ? [1, 8] : [1, 8, 32],
    decodePromptLen: 32,
    embedTexts: 32,
    embedLen: quick ? 32 : 128,
  };
}

/** `n` seeded pseudo-random token ids below min(vocab, 50000). */
export function promptIds(n: number, seed: number, vocab: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % Math.min(vocab, 50000);
  });
}

/** Seed of the first decode run; each measured run adds 97 (warm-up included), stream i adds i. */
export const DECODE_SEED = 1000;
export const DECODE_SEED_STEP = 97;
export const PREFILL_SEED = 7;
export const EMBED_SEED = 500;

export const rowNames = {
  prefillForward: (w: Workload) => `prefill ${w.prefillLen}, logits for every position (forward)`,
  decode: (w: Workload, streams: number) =>
    `decode, ${streams} stream${streams > 1 ? 's' : ''} (prompt ${w.decodePromptLen}, ${w.newTokens} new, aggregate)`,
  embeddings: (w: Workload) => `embeddings ${w.embedTexts}x${w.embedLen} (mean pooling)`,
};

/** The embedding benchmark's texts: `embedTexts` token-id lists of `embedLen` tokens. */
export function embedTexts(w: Workload, vocab: number): number[][] {
  return Array.from({ length: w.embedTexts }, (_, i) => promptIds(w.embedLen, EMBED_SEED + i, vocab));
}
