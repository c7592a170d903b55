/**
 * A bounded cache from pre-token text to its token ids, looked up straight from the input
 * string: the key is hashed from the characters in place and compared character by character,
 * so a hit allocates nothing (no substring, no Map hashing).
 *
 * It is 4-way set-associative with a 2-bit use counter per entry (CLOCK-like): a hit raises the
 * counter; a new piece takes an empty way or one whose counter is 0, and when every way of its
 * set is in use, all four counters are lowered instead and the piece is not stored. So one-off
 * pieces (random numbers, rare words, CJK runs) cannot flush the frequent ones, and memory is
 * bounded by the entry count. A piece that is one token is stored as that id; longer results
 * as an Int32Array.
 */
import { hashRange } from './fnv-hash.js';

/** Hash of the piece text[start, end) used as the cache key. */
export const hashPiece = (text: string, start: number, end: number): number => hashRange(text, start, end);

const WAYS = 4;
const MAX_USE = 3;

export class PieceCache {
  private readonly setMask: number;
  private readonly entries: number;
  // The tables are allocated by the first set() (about 2 ms for the tokenizer's 2^17 entries),
  // so loading a tokenizer does not pay for them and one never used to encode never does.
  private keys: Array<string | undefined> = [];
  private hashes = new Int32Array(0);
  /** The id when the piece is one token, else -1 (ids are in `multi`). */
  private single = new Int32Array(0);
  private multi: Array<Int32Array | undefined> = [];
  private use = new Uint8Array(0);
  private count = 0;

  /** @param entries capacity in pieces, rounded up to a power of two (at least 4). */
  constructor(entries: number) {
    let size = WAYS;
    while (size < entries) size <<= 1;
    this.setMask = size / WAYS - 1;
    this.entries = size;
  }

  private allocate(): void {
    const size = this.entries;
    this.keys = new Array<string | undefined>(size).fill(undefined);
    this.hashes = new Int32Array(size);
    this.single = new Int32Array(size);
    this.multi = new Array<Int32Array | undefined>(size).fill(undefined);
    this.use = new Uint8Array(size);
  }

  private baseOf(hash: number): number {
    return ((hash ^ (hash >>> 15)) & this.setMask) * WAYS;
  }

  /**
   * Appends the cached ids of text[start, end) (whose hash is `hash`) to `out` and returns true,
   * or returns false on a miss.
   */
  appendIfCached(text: string, start: number, end: number, hash: number, out: number[]): boolean {
    if (this.count === 0) return false; // (also: the tables are not allocated yet)
    const base = this.baseOf(hash);
    const length = end - start;
    for (let e = base; e < base + WAYS; e++) {
      if (this.hashes[e] !== hash) continue;
      const key = this.keys[e];
      if (key === undefined || key.length !== length) continue;
      let same = true;
      for (let i = 0; i < length; i++) {
        if (key.charCodeAt(i) !== text.charCodeAt(start + i)) { same = false; break; }
      }
      if (!same) continue;
      if (this.use[e]! < MAX_USE) this.use[e]!++;
      const id = this.single[e]!;
      if (id >= 0) {
        out.push(id);
      } else {
        const ids = this.multi[e]!;
        for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
      }
      return true;
    }
    return false;
  }

  /**
   * Offers ids[from..] as the ids of `piece` (whose hash is `hash`, and which is not cached).
   * Returns whether it was stored (see the class comment for when it is not).
   */
  set(piece: string, hash: number, ids: ArrayLike<number>, from = 0): boolean {
    if (this.keys.length === 0) this.allocate();
    const base = this.baseOf(hash);
    let slot = -1;
    for (let e = base; e < base + WAYS; e++) {
      if (this.keys[e] === undefined) { slot = e; this.count++; break; }
      if (slot < 0 && this.use[e] === 0) slot = e;
    }
    if (slot < 0) {
      for (let e = base; e < base + WAYS; e++) this.use[e]!--;
      return false;
    }
    this.keys[slot] = piece;
    this.hashes[slot] = hash;
    this.use[slot] = 1;
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
    return true;
  }

  /** Ids cached for `piece`, or undefined (for tests and diagnostics; counts as a use). */
  get(piece: string): number[] | undefined {
    const out: number[] = [];
    return this.appendIfCached(piece, 0, piece.length, hashPiece(piece, 0, piece.length), out) ? out : undefined;
  }

  /** Number of pieces held (at most the capacity). */
  get size(): number {
    return this.count;
  }

  /** Capacity in pieces. */
  get capacity(): number {
    return this.entries;
  }

  clear(): void {
    this.keys.fill(undefined);
    this.multi.fill(undefined);
    this.use.fill(0);
    this.count = 0;
  }
}
