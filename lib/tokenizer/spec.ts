/**
 * TokenizerSpec: everything a byte-level BPE tokenizer is made of, independent of the files it
 * came from (tokenizer.json, or vocab.json + merges.txt + the special-token files).
 */

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
  vocab: Map<string, number>;
  /** Merge rules in priority order: rule r merges mergeLefts[r] with mergeRights[r]. */
  mergeLefts: string[];
  mergeRights: string[];
  addedTokens: AddedTokenSpec[];
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
