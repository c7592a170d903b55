/**
 * A vocabulary (symbol → id) held without one JS string per symbol: each key is a range of UTF-16
 * units in one Uint16Array pool (for vocab.json, the file's own text, decoded in place), and an
 * open-addressing table of entry numbers, keyed by a hash of the units, finds them. Lookups take
 * a range of another unit array (a rule of merges.txt, or two ranges in a row) and compare units
 * in place, so loading GPT-2's 50k symbols and resolving its 50k merge rules makes no strings.
 *
 * The hash is the polynomial h = (31·h + unit) mod 2^25: it stays a small integer, so code that
 * has not been optimised yet (most of a load in a fresh process) never boxes it. The table slot
 * takes the top bits of h times the golden ratio, which mixes every bit of h.
 *
 * Entries keep the order in which their keys first arrived; adding a key again replaces its id
 * (the last wins, as with JSON.parse) and keeps its place, as a Map would.
 */
import { utf16Units } from './utf16-units.js';

export const HASH_MASK = 0x1ffffff;

/** Hash of units[start, end); continuing from `seed` (the hash of what precedes) hashes a concatenation. */
export function hashUnits(units: Uint16Array, start: number, end: number, seed = 0): number {
  let h = seed;
  for (let i = start; i < end; i++) h = (h * 31 + units[i]!) & HASH_MASK;
  return h;
}

/** The same hash over a string's UTF-16 units. */
export function hashString(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) & HASH_MASK;
  return h;
}

export class VocabIndex {
  /** Key units: key e is pool[starts[e], ends[e]). */
  pool: Uint16Array;
  /** [capacity ≥ count] per entry: first unit of its key, one past its last, its hash, its id. */
  starts: Int32Array;
  ends: Int32Array;
  hashes: Int32Array;
  ids: Int32Array;
  /** [2^k ≥ 2 · count] entry number + 1 per slot; 0 is empty. */
  private table: Int32Array;
  /** 32 − k: a hash's slot is the top k bits of Math.imul(h, golden ratio). */
  private shift: number;
  /** Number of distinct keys. */
  count = 0;
  private largestId = -1;
  /** Set when a repeated key took the largest id away, so largestId must be recomputed. */
  private largestIdStale = false;

  /** @param pool holds (or will hold) the keys; @param capacityHint expected number of keys. */
  constructor(pool: Uint16Array, capacityHint: number) {
    const capacity = Math.max(16, capacityHint);
    this.pool = pool;
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
    this.hashes = new Int32Array(capacity);
    this.ids = new Int32Array(capacity);
    let bits = 5;
    while ((1 << bits) < 2 * capacity) bits++;
    this.table = new Int32Array(1 << bits);
    this.shift = 32 - bits;
  }

  /** An index of `keys[i] → ids[i]` (later repeats of a key win). */
  static fromKeys(keys: readonly string[], ids: ArrayLike<number>): VocabIndex {
    const index = new VocabIndex(utf16Units(keys.join('')), keys.length);
    let at = 0;
    for (let i = 0; i < keys.length; i++) {
      const end = at + keys[i]!.length;
      index.insert(at, end, hashUnits(index.pool, at, end), ids[i]!);
      at = end;
    }
    return index;
  }

  slotOf(hash: number): number {
    return Math.imul(hash, 0x9e3779b1) >>> this.shift;
  }

  /**
   * Adds the key at pool[start, end) (whose hash is `hash`) with `id`. Returns false when the
   * key was present: its id is replaced and this range is not used.
   */
  insert(start: number, end: number, hash: number, id: number): boolean {
    const { pool, starts, ends, hashes, table } = this;
    const mask = table.length - 1;
    const length = end - start;
    let slot = this.slotOf(hash);
    for (; table[slot] !== 0; slot = (slot + 1) & mask) {
      const e = table[slot]! - 1;
      if (hashes[e] !== hash || ends[e]! - starts[e]! !== length) continue;
      let p = starts[e]!;
      let i = start;
      while (i < end && pool[p] === pool[i]) { p++; i++; }
      if (i === end) {
        if (id > this.largestId) this.largestId = id;
        else if (this.ids[e] === this.largestId && id < this.largestId) this.largestIdStale = true;
        this.ids[e] = id;
        return false;
      }
    }
    if (this.count === starts.length) this.grow();
    const added = this.count++;
    this.starts[added] = start;
    this.ends[added] = end;
    this.hashes[added] = hash;
    this.ids[added] = id;
    if (id > this.largestId) this.largestId = id;
    if (2 * this.count > table.length) this.rehash();
    else table[slot] = added + 1;
    return true;
  }

  private place(e: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let slot = this.slotOf(this.hashes[e]!);
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = e + 1;
  }

  private grow(): void {
    const n = 2 * this.starts.length;
    const bigger = (a: Int32Array): Int32Array => { const b = new Int32Array(n); b.set(a); return b; };
    this.starts = bigger(this.starts);
    this.ends = bigger(this.ends);
    this.hashes = bigger(this.hashes);
    this.ids = bigger(this.ids);
  }

  private rehash(): void {
    this.table = new Int32Array(2 * this.table.length);
    this.shift--;
    for (let e = 0; e < this.count; e++) this.place(e);
  }

  /** Entry whose key is units[start, end) (`hash` = hashUnits of it), or -1. */
  find(units: Uint16Array, start: number, end: number, hash: number): number {
    const { pool, starts, ends, hashes, table } = this;
    const mask = table.length - 1;
    const length = end - start;
    for (let slot = this.slotOf(hash); ; slot = (slot + 1) & mask) {
      const e = table[slot]! - 1;
      if (e < 0) return -1;
      if (hashes[e] !== hash || ends[e]! - starts[e]! !== length) continue;
      let p = starts[e]!;
      let i = start;
      while (i < end && pool[p] === units[i]) { p++; i++; }
      if (i === end) return e;
    }
  }

  /**
   * Entry whose key is units[ls, le) followed by units[rs, re), or -1; `hash` is the hash of the
   * two in a row (hashUnits(units, rs, re, hashUnits(units, ls, le))).
   */
  findJoined(units: Uint16Array, ls: number, le: number, rs: number, re: number, hash: number): number {
    const table = this.table;
    const mask = table.length - 1;
    for (let slot = this.slotOf(hash); ; slot = (slot + 1) & mask) {
      const e = table[slot]! - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === hash && this.isJoined(e, units, ls, le, rs, re)) return e;
    }
  }

  /** Whether entry e's key is units[ls, le) followed by units[rs, re). */
  isJoined(e: number, units: Uint16Array, ls: number, le: number, rs: number, re: number): boolean {
    const pool = this.pool;
    let p = this.starts[e]!;
    if (this.ends[e]! - p !== le - ls + re - rs) return false;
    for (let i = ls; i < le; i++) if (pool[p++] !== units[i]) return false;
    for (let i = rs; i < re; i++) if (pool[p++] !== units[i]) return false;
    return true;
  }

  /** Id of `key`, or undefined. */
  get(key: string): number | undefined {
    const { pool, starts, ends, hashes, table } = this;
    const mask = table.length - 1;
    const hash = hashString(key);
    for (let slot = this.slotOf(hash); ; slot = (slot + 1) & mask) {
      const e = table[slot]! - 1;
      if (e < 0) return undefined;
      if (hashes[e] !== hash || ends[e]! - starts[e]! !== key.length) continue;
      let p = starts[e]!;
      let i = 0;
      while (i < key.length && pool[p] === key.charCodeAt(i)) { p++; i++; }
      if (i === key.length) return this.ids[e]!;
    }
  }

  /** Entry e's key as a string (allocates; for the symbol APIs and error messages). */
  keyAt(e: number): string {
    let s = '';
    for (let at = this.starts[e]!, end = this.ends[e]!; at < end; at += 4096) {
      s += String.fromCharCode.apply(null, this.pool.subarray(at, Math.min(end, at + 4096)) as unknown as number[]);
    }
    return s;
  }

  /** Largest id, or -1 when empty. */
  maxId(): number {
    if (this.largestIdStale) {
      this.largestId = -1;
      for (let e = 0; e < this.count; e++) if (this.ids[e]! > this.largestId) this.largestId = this.ids[e]!;
      this.largestIdStale = false;
    }
    return this.largestId;
  }

  /** [key, id] of every entry, in entry order (for tests and diagnostics). */
  *entries(): IterableIterator<[string, number]> {
    for (let e = 0; e < this.count; e++) yield [this.keyAt(e), this.ids[e]!];
  }
}
