/**
 * A bounded cache from pre-token text to its token ids, looked up straight from the input
 * string: the key is hashed from the characters in place and compared character by character,
 * so a hit allocates nothing (no substring, no Map hashing). It is direct-mapped: each hash slot
 * holds the most recent piece that landed there, which bounds memory at `slots` entries and
 * keeps frequent pieces (they come back before being displaced). A piece that is one token is
 * stored as that id; longer results as an Int32Array.
 */

import { hashRange } from './fnv-hash.js';

/** Hash of the piece text[start, end) used as the cache key. */
export const hashPiece = (text: string, start: number, end: number): number => hashRange(text, start, end);

export class PieceCache {
  private readonly mask: number;
  private readonly keys: Array<string | undefined>;
  private readonly hashes: Int32Array;
  /** The id when the piece is one token, else -1 (ids are in `multi`). */
  private readonly single: Int32Array;
  private readonly multi: Array<Int32Array | undefined>;
  private count = 0;

  /** @param slots number of entries, rounded up to a power of two. */
  constructor(slots: number) {
    let size = 1;
    while (size < slots) size <<= 1;
    this.mask = size - 1;
    this.keys = new Array<string | undefined>(size).fill(undefined);
    this.hashes = new Int32Array(size);
    this.single = new Int32Array(size);
    this.multi = new Array<Int32Array | undefined>(size).fill(undefined);
  }

  private slotOf(hash: number): number {
    return (hash ^ (hash >>> 15)) & this.mask;
  }

  /**
   * Appends the cached ids of text[start, end) (whose hash is `hash`) to `out` and returns true,
   * or returns false on a miss.
   */
  appendIfCached(text: string, start: number, end: number, hash: number, out: number[]): boolean {
    const slot = this.slotOf(hash);
    if (this.hashes[slot] !== hash) return false;
    const key = this.keys[slot];
    const length = end - start;
    if (key === undefined || key.length !== length) return false;
    for (let i = 0; i < length; i++) if (key.charCodeAt(i) !== text.charCodeAt(start + i)) return false;
    const id = this.single[slot]!;
    if (id >= 0) {
      out.push(id);
    } else {
      const ids = this.multi[slot]!;
      for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
    }
    return true;
  }

  /**
   * Stores ids[from..] as the ids of `piece` (whose hash is `hash`), displacing whatever held
   * its slot.
   */
  set(piece: string, hash: number, ids: ArrayLike<number>, from = 0): void {
    const slot = this.slotOf(hash);
    if (this.keys[slot] === undefined) this.count++;
    this.keys[slot] = piece;
    this.hashes[slot] = hash;
    const count = ids.length - from;
    if (count === 1) {
      this.single[slot] = ids[from]!;
      this.multi[slot] = undefined;
    } else {
      const copy = new Int32Array(count);
      for (let k = 0; k < count; k++) copy[k] = ids[from + k]!;
      this.single[slot] = -1;
      this.multi[slot] = copy;
    }
  }

  /** Ids cached for `piece`, or undefined (for tests and diagnostics). */
  get(piece: string): number[] | undefined {
    const out: number[] = [];
    return this.appendIfCached(piece, 0, piece.length, hashPiece(piece, 0, piece.length), out) ? out : undefined;
  }

  /** Number of pieces held (at most the slot count). */
  get size(): number {
    return this.count;
  }

  /** Capacity in pieces. */
  get capacity(): number {
    return this.mask + 1;
  }

  clear(): void {
    this.keys.fill(undefined);
    this.multi.fill(undefined);
    this.count = 0;
  }
}
