/**
 * A fast reader for vocab.json, a flat JSON object of token → non-negative integer id. It scans
 * the file's UTF-16 units once, decoding each key's escapes in place (a key never grows when
 * decoded), so the units themselves become the VocabIndex's pool and no string is created per
 * key. Anything it does not expect returns undefined, and the caller falls back to JSON.parse,
 * which also produces the precise error message for malformed files. A repeated key keeps its
 * last id, as with JSON.parse.
 */
import { utf16Units } from './utf16-units.js';
import { HASH_MASK, VocabIndex } from './vocab-index.js';

function skipSpace(u: Uint16Array, i: number): number {
  for (;;) {
    const c = u[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

/** HEX[unit] is the value of a hex digit, or -1. */
const HEX = new Int8Array(0x10000).fill(-1);
for (let d = 0; d < 16; d++) {
  HEX['0123456789abcdef'.charCodeAt(d)] = d;
  HEX['0123456789ABCDEF'.charCodeAt(d)] = d;
}

/** ESCAPED[unit] is what a backslash followed by that unit stands for (u is handled apart), or -1. */
const ESCAPED = new Int32Array(0x80).fill(-1);
for (const [c, v] of [['"', 0x22], ['\\', 0x5c], ['/', 0x2f], ['b', 0x08], ['f', 0x0c], ['n', 0x0a], ['r', 0x0d], ['t', 0x09]] as const) {
  ESCAPED[c.charCodeAt(0)] = v;
}

/** Where decodeKey left off: the index of the key's closing quote, and the key's hash. */
let keyQuote = 0;
let keyHash = 0;

/**
 * Decodes the key whose text starts at u[i] (just past its opening quote) in place and returns
 * the index past its last decoded unit (the key is u[i, returned)), setting keyQuote and
 * keyHash; -1 when it is not a well-formed JSON string.
 */
function decodeKey(u: Uint16Array, i: number): number {
  let w = i;
  let h = 0;
  for (;;) {
    let c = u[i]!;
    if (c === 0x22) break;
    if (c === 0x5c) {
      const e = u[i + 1]!;
      if (e === 0x75) { // \uXXXX
        c = (HEX[u[i + 2]!]! << 12) | (HEX[u[i + 3]!]! << 8) | (HEX[u[i + 4]!]! << 4) | HEX[u[i + 5]!]!;
        if (c < 0 || i + 5 >= u.length) return -1; // a bad digit's -1 sets the sign bit
        i += 6;
      } else {
        c = e < 0x80 ? ESCAPED[e]! : -1;
        if (c < 0) return -1;
        i += 2;
      }
    } else {
      if (!(c >= 0x20)) return -1; // a control character, or past the end (undefined)
      i++;
    }
    u[w++] = c;
    h = (h * 31 + c) & HASH_MASK;
  }
  keyQuote = i;
  keyHash = h;
  return w;
}

/** Parses `{"tok": 1, ...}` into a VocabIndex; undefined when the text is anything else (caller falls back). */
export function scanVocabJson(text: string): VocabIndex | undefined {
  const u = utf16Units(text);
  const n = u.length;
  // GPT-2's file has about 20 units per entry; the index grows if the guess is low.
  const index = new VocabIndex(u, n >> 4);
  let i = skipSpace(u, u[0] === 0xfeff ? 1 : 0);
  if (u[i] !== 0x7b) return undefined; // {
  i = skipSpace(u, i + 1);
  if (u[i] === 0x7d) return skipSpace(u, i + 1) === n ? index : undefined;
  for (;;) {
    if (u[i] !== 0x22) return undefined; // "
    const start = i + 1;
    const end = decodeKey(u, start);
    if (end < 0) return undefined;
    // The usual `": 123, "` is read inline; skipSpace handles any other whitespace.
    i = keyQuote + 1;
    if (u[i] !== 0x3a) { // :
      i = skipSpace(u, i);
      if (u[i] !== 0x3a) return undefined;
    }
    i++;
    if (u[i] === 0x20) i++;
    const d = u[i]!;
    if (!(d >= 0x30 && d <= 0x39)) i = skipSpace(u, i);
    const digitsStart = i;
    let id = 0;
    for (;;) {
      const c = u[i]!;
      if (!(c >= 0x30 && c <= 0x39)) break; // (also stops at the end, where c is undefined)
      id = id * 10 + (c - 0x30);
      i++;
    }
    const digits = i - digitsStart;
    if (digits === 0 || digits > 9 || (digits > 1 && u[digitsStart] === 0x30)) return undefined;
    index.insert(start, end, keyHash, id);
    let c = u[i];
    if (c !== 0x2c && c !== 0x7d) c = u[i = skipSpace(u, i)];
    if (c === 0x2c) { // ,
      i++;
      if (u[i] === 0x20) i++;
      if (u[i] !== 0x22) i = skipSpace(u, i);
      continue;
    }
    if (c === 0x7d) break; // }
    return undefined;
  }
  return skipSpace(u, i + 1) === n ? index : undefined;
}
