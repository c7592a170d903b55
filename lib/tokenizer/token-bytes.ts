/**
 * The bytes every token id stands for, in one buffer, built from a VocabIndex's key units
 * (no string per symbol). Byte-alphabet symbols are one byte per unit; added tokens (and the
 * rare symbol with a unit outside the alphabet) are the UTF-8 of their text.
 */
import { CHAR_CODE_TO_BYTE } from './byte-alphabet.js';
import { KEY_END, KEY_START, RECORD, type VocabIndex } from './vocab-index.js';

const utf8 = new TextEncoder();

export interface TokenBytes {
  /** [size] 1 where an id is assigned (not a hole in the id space). */
  assigned: Uint8Array;
  /** [size + 1] the bytes of id i are tokenBytes[byteStart[i], byteStart[i + 1]). */
  byteStart: Int32Array;
  /** [byteStart[size]] every id's bytes back to back. */
  tokenBytes: Uint8Array;
}

/**
 * Writes the bytes of pool[start, end) to out[at..] if every unit is a byte-alphabet character;
 * returns the index past them, or -1 (out may then hold a partial write).
 */
function writeAlphabet(pool: Uint16Array, start: number, end: number, out: Uint8Array, at: number): number {
  for (let k = start; k < end; k++) {
    const c = pool[k]!;
    const b = c < CHAR_CODE_TO_BYTE.length ? CHAR_CODE_TO_BYTE[c]! : -1;
    if (b < 0) return -1;
    out[at++] = b;
  }
  return at;
}

/**
 * @param entryOfId [size] index entry holding each id, or -1
 * @param ownBytes bytes of ids that are not spelled in the byte alphabet (added tokens)
 */
export function buildTokenBytes(index: VocabIndex, entryOfId: Int32Array, ownBytes: Map<number, Uint8Array>): TokenBytes {
  const size = entryOfId.length;
  const { pool, records } = index;
  const assigned = new Uint8Array(size); // 2 marks an id of ownBytes until it is written
  const byteStart = new Int32Array(size + 1);
  let ownTotal = 0;
  for (const [id, bytes] of ownBytes) { assigned[id] = 2; ownTotal += bytes.length; }
  let out = new Uint8Array(pool.length + ownTotal); // enough unless a symbol is outside the alphabet (pool holds every key)
  let at = 0;
  for (let id = 0; id < size; id++) {
    byteStart[id] = at;
    if (assigned[id] === 2) {
      const own = ownBytes.get(id)!;
      out.set(own, at);
      at += own.length;
      assigned[id] = 1;
      continue;
    }
    const e = entryOfId[id]!;
    if (e < 0) continue;
    assigned[id] = 1;
    const start = records[RECORD * e + KEY_START]!;
    const end = records[RECORD * e + KEY_END]!;
    const next = writeAlphabet(pool, start, end, out, at);
    if (next >= 0) { at = next; continue; }
    // Rare: a symbol outside the alphabet stands for its own UTF-8 (at most 3 bytes per unit,
    // where the buffer counted 1). Grown geometrically, for vocabularies made of such symbols.
    const bigger = new Uint8Array(Math.max(2 * out.length, out.length + 3 * (end - start)));
    bigger.set(out.subarray(0, at));
    out = bigger;
    at += utf8.encodeInto(index.keyAt(e), out.subarray(at)).written;
  }
  byteStart[size] = at;
  return { assigned, byteStart, tokenBytes: out.length === at ? out : out.slice(0, at) };
}
