/** GPT-2 byte-level BPE tokenizer (public surface of lib/tokenizer). */
export { Tokenizer } from './tokenizer.js';
export type { EncodeOptions, EncodingWithOffsets } from './tokenizer.js';
export { StreamDecoder } from './stream-decoder.js';
export type { AddedTokenSpec } from './spec.js';
export { preTokenize } from './pre-tokenize.js';
export { hasTokenizerFiles } from './files.js';
