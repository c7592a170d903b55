/**
 * TokenizerSpec: everything a byte-level BPE tokenizer is made of, independent of the files it
 * came from (tokenizer.json, or vocab.json + merges.txt + the special-token files).
 */
import type { VocabIndex } from './vocab-index.js';

/** A token matched verbatim in the input before pre-tokenization (e.g. `<|endoftext|>`). */
export interface AddedTokenSpec {
  id: number;
  content: string;
  /** Special tokens are matched only when encode's `allowSpecial` is true (the default). */
  special: boolean;
  /** Strip whitespace on the left / right of a match, as Hugging Face's AddedToken does. */
  lstrip: boolean;
  rstrip: boolean;
}

export interface TokenizerSpec {
  /** Byte-alphabet symbol → id (vocab.json, or tokenizer.json's model.vocab). */
  vocab: VocabIndex;
  /** Merge rules in priority order. */
  merges: MergeRules;
  addedTokens: AddedTokenSpec[];
  /**
   * Special tokens named by the config files (bos/eos/unk/pad, additional_special_tokens); those
   * in the vocabulary that are not already added tokens become special added tokens.
   */
  specialNames: string[];
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string;
  /** Prepend a space to the text before encoding (GPT2Tokenizer's add_prefix_space). */
  addPrefixSpace: boolean;
  /** Where the vocabulary and merges came from, for error messages. */
  vocabSource: string;
  mergesSource: string;
}

/**
 * Merge rules as ranges of one text (merges.txt itself, or the rules of tokenizer.json laid out
 * in a string): rule r joins text[ranges[4r], ranges[4r+1]) and text[ranges[4r+2], ranges[4r+3]).
 */
export interface MergeRules {
  text: string;
  ranges: Int32Array;
  count: number;
  /** Where rule r is written, for error messages (e.g. "line 12"). */
  where(rank: number): string;
}
