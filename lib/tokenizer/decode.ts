/**
 * Ids → text. The bytes of all tokens are concatenated and decoded as UTF-8 in one go, so
 * decoding is byte-exact; invalid or incomplete UTF-8 becomes U+FFFD per maximal invalid
 * subpart (WHATWG TextDecoder, identical to Python's bytes.decode('utf-8', errors='replace')).
 * A leading U+FEFF is kept (ignoreBOM), since it is text the tokens stand for.
 */
import { TextDecoder } from 'node:util';
import { GptNeoError } from '../errors.js';
import { describe as describeValue, invalid } from '../validate.js';
import type { Vocabulary } from './vocabulary.js';

export const utf8Decoder = (): TextDecoder => new TextDecoder('utf-8', { ignoreBOM: true });
const decoder = utf8Decoder();

/** Throws unless `id` is an assigned token id of `vocab`; `name` names the argument. */
export function checkTokenId(vocab: Vocabulary, id: unknown, name: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id)) throw invalid('integer token id', name, id);
  if (id < 0 || id >= vocab.size || vocab.assigned[id] === 0) {
    throw new GptNeoError('ERR_GPTNEO_TOKEN_OUT_OF_RANGE',
      `Token id ${id} in ${name} is out of range: the vocabulary has ids 0..${vocab.size - 1}${id >= 0 && id < vocab.size ? ` and ${id} is unassigned` : ''}`);
  }
  return id;
}

/** Accepts an array or typed array of token ids; throws GptNeoError otherwise. */
export function checkIdList(ids: unknown, name: string): ArrayLike<number> {
  if (Array.isArray(ids)) return ids;
  if (ArrayBuffer.isView(ids) && !(ids instanceof DataView) && !(ids instanceof BigInt64Array) && !(ids instanceof BigUint64Array)) {
    return ids as unknown as ArrayLike<number>;
  }
  throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', `Expected an array of token ids for ${name} but received ${describeValue(ids)}`);
}

/** The concatenated bytes of `ids` (validated). */
export function idsToBytes(vocab: Vocabulary, ids: ArrayLike<number>, name: string): Uint8Array {
  const { byteStart, tokenBytes } = vocab;
  let total = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = checkTokenId(vocab, ids[i], `${name}[${i}]`);
    total += byteStart[id + 1]! - byteStart[id]!;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const s = byteStart[id]!;
    const e = byteStart[id + 1]!;
    if (e - s === 1) out[at++] = tokenBytes[s]!;
    else { out.set(tokenBytes.subarray(s, e), at); at += e - s; }
  }
  return out;
}

export function decodeIds(vocab: Vocabulary, ids: unknown): string {
  const list = checkIdList(ids, 'ids');
  return decoder.decode(idsToBytes(vocab, list, 'ids'));
}
