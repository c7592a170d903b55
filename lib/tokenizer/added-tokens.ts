/**
 * Splits text on added tokens (such as `<|endoftext|>`) before pre-tokenization, as Hugging
 * Face's tokenizers do: the earliest occurrence wins, the longest token on a tie; the text
 * between matches is encoded as ordinary text. Whitespace around a match is kept unless the
 * token says lstrip/rstrip.
 */
import { charClass, SPACE } from './char-class.js';
import type { AddedTokenSpec } from './spec.js';

/** Python's str.isspace for one UTF-16 unit: White_Space plus the separators U+001C..U+001F. */
function isPythonSpace(c: number): boolean {
  return (c >= 0x1c && c <= 0x1f) || charClass(c) === SPACE;
}

/** Segments of a text as flat triples [start, end, id]; id is -1 for ordinary text. */
export type Segments = number[];

export class AddedTokenMatcher {
  private readonly all: AddedTokenSpec[];
  private readonly nonSpecial: AddedTokenSpec[];

  constructor(tokens: readonly AddedTokenSpec[]) {
    const seen = new Set<string>();
    this.all = [];
    for (const t of tokens) {
      if (seen.has(t.content)) continue;
      seen.add(t.content);
      this.all.push(t);
    }
    this.nonSpecial = this.all.filter((t) => !t.special);
  }

  /** The added tokens (deduplicated by content). */
  get tokens(): readonly AddedTokenSpec[] {
    return this.all;
  }

  /**
   * Splits `text`. With `allowSpecial` false, special tokens are not matched (they stay text);
   * non-special added tokens are always matched.
   */
  split(text: string, allowSpecial: boolean): Segments {
    const tokens = allowSpecial ? this.all : this.nonSpecial;
    const out: Segments = [];
    if (tokens.length === 0) {
      if (text.length > 0) out.push(0, text.length, -1);
      return out;
    }
    const next = tokens.map((t) => text.indexOf(t.content));
    let pos = 0;
    for (;;) {
      let best = -1;
      for (let k = 0; k < tokens.length; k++) {
        const at = next[k]!;
        if (at < 0) continue;
        if (best < 0 || at < next[best]! || (at === next[best]! && tokens[k]!.content.length > tokens[best]!.content.length)) best = k;
      }
      if (best < 0) break;
      const token = tokens[best]!;
      const matchStart = next[best]!;
      let matchEnd = matchStart + token.content.length;
      let textEnd = matchStart;
      if (token.lstrip) while (textEnd > pos && isPythonSpace(text.charCodeAt(textEnd - 1))) textEnd--;
      if (token.rstrip) while (matchEnd < text.length && isPythonSpace(text.charCodeAt(matchEnd))) matchEnd++;
      if (textEnd > pos) out.push(pos, textEnd, -1);
      out.push(matchStart, matchStart + token.content.length, token.id);
      pos = matchEnd;
      for (let k = 0; k < tokens.length; k++) {
        if (next[k]! >= 0 && next[k]! < pos) next[k] = text.indexOf(tokens[k]!.content, pos);
      }
    }
    if (pos < text.length) out.push(pos, text.length, -1);
    return out;
  }
}
