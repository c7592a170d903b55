/**
 * Character offsets of tokens. Offsets are UTF-16 indices into the input string (what
 * `text.slice(start, end)` takes), [start, end). A token covering bytes [b0, b1) of a
 * pre-token spans from the start of the character that holds byte b0 to the end of the
 * character that holds byte b1 - 1. When a token holds only part of a character's UTF-8 bytes
 * (e.g. an emoji split over two tokens), each such token gets that whole character's span, so
 * neighbouring tokens' spans can overlap or coincide; slicing still never cuts a character.
 */
import { utf8LengthAt } from './utf8-bytes.js';
import type { Vocabulary } from './vocabulary.js';

/**
 * Appends [start, end] for each of `ids`, the tokens of the pre-token text[start, end).
 * `shift` is subtracted from every offset (clamped at 0), for a prefix the caller added.
 */
export function appendPieceOffsets(text: string, start: number, end: number, ids: ArrayLike<number>,
  vocab: Vocabulary, out: Array<[number, number]>, shift: number): void {
  // charStart[b] / charEnd[b]: UTF-16 span of the character that holds byte b of the piece.
  const charStart: number[] = [];
  const charEnd: number[] = [];
  for (let i = start; i < end;) {
    const { bytes, units } = utf8LengthAt(text, i, end);
    for (let k = 0; k < bytes; k++) { charStart.push(i); charEnd.push(i + units); }
    i += units;
  }
  let b = 0;
  for (let t = 0; t < ids.length; t++) {
    const len = vocab.byteLength(ids[t]!);
    out.push([Math.max(0, charStart[b]! - shift), Math.max(0, charEnd[b + len - 1]! - shift)]);
    b += len;
  }
}
