/**
 * Turning a user's prompt (text or token ids) into validated token ids.
 */
import { GptNeoError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { describe } from '../validate.js';

/** Checks that `ids` is a non-empty array of integer token ids in [0, vocabSize). */
export function validateTokenIds(name: string, ids: unknown, vocabSize: number): number[] {
  if (!Array.isArray(ids) && !(ids instanceof Int32Array) && !(ids instanceof Uint32Array)) {
    throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
      `Expected an array of token ids for ${name} but received ${describe(ids)}`);
  }
  const arr = ids as ArrayLike<unknown>;
  if (arr.length === 0) {
    throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', `Expected at least one token id for ${name} but received an empty array`);
  }
  const out = new Array<number>(arr.length);
  for (let i = 0; i < arr.length; i++) {
    const id = arr[i];
    if (typeof id !== 'number' || !Number.isInteger(id)) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
        `Expected integer token ids for ${name} but element ${i} is ${describe(id)}`);
    }
    if (id < 0 || id >= vocabSize) {
      throw new GptNeoError('ERR_GPTNEO_TOKEN_OUT_OF_RANGE',
        `Token id ${id} at index ${i} of ${name} is outside the vocabulary [0, ${vocabSize})`);
    }
    out[i] = id;
  }
  return out;
}

/** A string is tokenized (the model must have a tokenizer); ids are validated. */
export function promptToIds(prompt: unknown, tokenizer: Tokenizer | undefined, vocabSize: number): number[] {
  if (typeof prompt === 'string') {
    if (!tokenizer) {
      throw new GptNeoError('ERR_GPTNEO_NO_TOKENIZER', 'This model has no tokenizer, so prompts must be token ids',
        { hint: 'put vocab.json + merges.txt or tokenizer.json in the model directory, or pass an array of token ids' });
    }
    if (prompt.length === 0) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', 'Expected a non-empty prompt but received ""');
    }
    return validateTokenIds('prompt', tokenizer.encode(prompt), vocabSize);
  }
  return validateTokenIds('prompt', prompt, vocabSize);
}
