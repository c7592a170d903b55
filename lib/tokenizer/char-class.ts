/**
 * Character classes of GPT-2's pre-tokenizer pattern, with the semantics of Python's `regex`
 * module (which Hugging Face uses), not JavaScript's:
 *   LETTER = \p{L}, NUMBER = \p{N}, SPACE = \s, OTHER = everything else.
 * Python's `\s` is exactly the Unicode White_Space property: it includes U+0085 (NEL) and
 * excludes U+FEFF (BOM), the reverse of JavaScript's `/\s/u` for those two characters.
 *
 * Classes are computed lazily per code point and memoised in one table shared by every
 * tokenizer (1.1 MB, allocated once); ASCII is filled in eagerly. Lone surrogates are OTHER,
 * the class of U+FFFD, which is what the encoder writes in their place.
 */

export const LETTER = 1;
export const NUMBER = 2;
export const SPACE = 3;
export const OTHER = 4;
export type CharClass = typeof LETTER | typeof NUMBER | typeof SPACE | typeof OTHER;

const LETTER_RE = /^\p{L}$/u;
const NUMBER_RE = /^\p{N}$/u;
const SPACE_RE = /^\p{White_Space}$/u;

/** 0 = not yet computed; otherwise a CharClass. Indexed by code point. */
const table = new Uint8Array(0x110000);

function computeClass(codePoint: number): CharClass {
  const ch = String.fromCodePoint(codePoint);
  return LETTER_RE.test(ch) ? LETTER : NUMBER_RE.test(ch) ? NUMBER : SPACE_RE.test(ch) ? SPACE : OTHER;
}

for (let cp = 0; cp < 0x80; cp++) table[cp] = computeClass(cp);

/** The pre-tokenizer class of a code point (0..0x10FFFF). */
export function charClass(codePoint: number): CharClass {
  const c = table[codePoint]!;
  if (c !== 0) return c as CharClass;
  const computed = computeClass(codePoint);
  table[codePoint] = computed;
  return computed;
}
