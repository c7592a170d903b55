/**
 * GPT-2's pre-tokenizer as a hand-written scanner. It splits text exactly like Python's
 * `regex.findall` with the pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (alternatives tried in order at each position; `\s` as in Python, see char-class.ts).
 * Every character matches some alternative, so the pieces tile the text with no gaps.
 */
import { charClass, SPACE, type CharClass } from './char-class.js';

const APOSTROPHE = 0x27;
const SPACE_CHAR = 0x20;

/** Class of the code point starting at UTF-16 index i (a lone surrogate counts as itself). */
function classAt(text: string, i: number): CharClass {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdbff) return charClass(c);
  const d = text.charCodeAt(i + 1);
  return d >= 0xdc00 && d <= 0xdfff ? charClass(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000) : charClass(c);
}

/** UTF-16 length of the code point starting at index i. */
function widthAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdbff) return 1;
  const d = text.charCodeAt(i + 1);
  return d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
}

/** Length (2 or 3) of the contraction ('s 't 're 've 'm 'll 'd) at i, or 0. Case-sensitive. */
function contractionLength(text: string, i: number, end: number): number {
  if (i + 1 >= end) return 0;
  const c1 = text.charCodeAt(i + 1);
  if (c1 === 0x73 || c1 === 0x74 || c1 === 0x6d || c1 === 0x64) return 2; // s t m d
  if (i + 2 >= end) return 0;
  const c2 = text.charCodeAt(i + 2);
  if ((c1 === 0x72 && c2 === 0x65) || (c1 === 0x76 && c2 === 0x65) || (c1 === 0x6c && c2 === 0x6c)) return 3; // re ve ll
  return 0;
}

/**
 * End (exclusive UTF-16 index) of the pre-token that starts at `start`, scanning no further
 * than `end`. Requires start < end.
 */
export function pieceEnd(text: string, start: number, end: number): number {
  const c0 = text.charCodeAt(start);
  if (c0 === APOSTROPHE) {
    const n = contractionLength(text, start, end);
    if (n !== 0) return start + n;
  }
  let runStart = start;
  let runClass: CharClass;
  if (c0 === SPACE_CHAR && start + 1 < end && (runClass = classAt(text, start + 1)) !== SPACE) {
    runStart = start + 1; // ' ?' prefix: one space joins the letter/number/other run after it
  } else {
    runClass = classAt(text, start);
  }
  if (runClass !== SPACE) {
    let j = runStart + widthAt(text, runStart);
    while (j < end && classAt(text, j) === runClass) j += widthAt(text, j);
    return j;
  }
  // Whitespace: `\s+(?!\S)` leaves the last whitespace character to prefix the next piece
  // (all White_Space characters are single UTF-16 units); a lone one falls back to `\s+`.
  let j = start + 1;
  while (j < end && classAt(text, j) === SPACE) j++;
  if (j === end || j - start === 1) return j;
  return j - 1;
}

/** The pre-tokens of `text`, in order (for tests and debugging; encoding uses pieceEnd). */
export function preTokenize(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const j = pieceEnd(text, i, text.length);
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}
