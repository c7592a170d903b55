/**
 * A vocabulary (symbol → id) held without one JS string per symbol: each key is a range of UTF-16
 * units in one Uint16Array pool (for vocab.json, the file's own text, decoded in place), and an
 * open-addressing table of entry numbers, keyed by a hash of the units, finds them. Lookups take
 * a range of another unit array (a rule of merges.txt, or two ranges in a row) and compare units
 * in place, so loading GPT-2's 50k symbols and resolving its 50k merge rules makes no strings.
 *
 * The hash is the polynomial h = (31·h + unit) mod 2^25: it stays a small integer, so code that
 * has not been optimised yet (most of a load in a fresh process) never boxes it. The table slot
 * takes the top bits of h times the golden ratio, which mixes every bit of h. A slot holds the
 * hash beside the entry number, and an entry's key range, hash and id lie side by side, so a
 * lookup touches few cache lines (resolving merges is mostly memory latency once optimised).
 *
 * Entries keep the order in which their keys first arrived; adding a key again replaces its id
 * (the last wins, as with JSON.parse) and keeps its place, as a Map would.
 */
import { utf16Units } from './utf16-units.js';

export const HASH_MASK = 0x1ffffff;

/** Entry e is records[RECORD * e + …]: its key is pool[KEY_START, KEY_END), with hash KEY_HASH and id ID. */
export const RECORD = 4;
export const KEY_START = 0;
export const KEY_END = 1;
export const KEY_HASH = 2;
export const ID = 3;

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
  /** Key units: entry e's key is pool[records[4e + KEY_START], records[4e + KEY_END]). */
  pool: Uint16Array;
  /** [RECORD · capacity] per entry: key start, key end, key hash, id. */
  records: Int32Array;
  /** [2 · 2^k, 2^k ≥ 2 · count] per slot: a hash and its entry number + 1 (0: empty slot). */
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
    this.records = new Int32Array(RECORD * capacity);
    let bits = 5;
    while ((1 << bits) < 2 * capacity) bits++;
    this.table = new Int32Array(2 << bits);
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

  /** Index in `table` of the first slot to probe for `hash`. */
  private firstSlot(hash: number): number {
    return 2 * (Math.imul(hash, 0x9e3779b1) >>> this.shift);
  }

  /**
   * Adds the key at pool[start, end) (whose hash is `hash`) with `id`. Returns false when the
   * key was present: its id is replaced and this range is not used.
   */
  insert(start: number, end: number, hash: number, id: number): boolean {
    const { pool, records, table } = this;
    const mask = table.length - 1;
    const length = end - start;
    let slot = this.firstSlot(hash);
    for (; table[slot + 1] !== 0; slot = (slot + 2) & mask) {
      if (table[slot] !== hash) continue;
      const r = RECORD * (table[slot + 1]! - 1);
      let p = records[r + KEY_START]!;
      if (records[r + KEY_END]! - p !== length) continue;
      let i = start;
      while (i < end && pool[p] === pool[i]) { p++; i++; }
      if (i === end) {
        if (id > this.largestId) this.largestId = id;
        else if (records[r + ID] === this.largestId && id < this.largestId) this.largestIdStale = true;
        records[r + ID] = id;
        return false;
      }
    }
    if (RECORD * this.count === records.length) this.grow();
    const added = this.count++;
    const r = RECORD * added;
    this.records[r + KEY_START] = start;
    this.records[r + KEY_END] = end;
    this.records[r + KEY_HASH] = hash;
    this.records[r + ID] = id;
    if (id > this.largestId) this.largestId = id;
    if (4 * this.count > table.length) { this.rehash(); return true; }
    table[slot] = hash;
    table[slot + 1] = added + 1;
    return true;
  }

  private grow(): void {
    const bigger = new Int32Array(2 * this.records.length);
    bigger.set(this.records);
    this.records = bigger;
  }

  private rehash(): void {
    const table = new Int32Array(2 * this.table.length);
    const mask = table.length - 1;
    this.shift--;
    this.table = table;
    for (let e = 0; e < this.count; e++) {
      const hash = this.records[RECORD * e + KEY_HASH]!;
      let slot = this.firstSlot(hash);
      while (table[slot + 1] !== 0) slot = (slot + 2) & mask;
      table[slot] = hash;
      table[slot + 1] = e + 1;
    }
  }

  /** Entry whose key is units[start, end) (`hash` = hashUnits of it), or -1. */
  find(units: Uint16Array, start: number, end: number, hash: number): number {
    const { pool, records, table } = this;
    const mask = table.length - 1;
    const length = end - start;
    for (let slot = this.firstSlot(hash); ; slot = (slot + 2) & mask) {
      const e = table[slot + 1]! - 1;
      if (e < 0) return -1;
      if (table[slot] !== hash) continue;
      let p = records[RECORD * e + KEY_START]!;
      if (records[RECORD * e + KEY_END]! - p !== length) continue;
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
    for (let slot = this.firstSlot(hash); ; slot = (slot + 2) & mask) {
      const e = table[slot + 1]! - 1;
      if (e < 0) return -1;
      if (table[slot] === hash && this.isJoined(e, units, ls, le, rs, re)) return e;
    }
  }

  /** Whether entry e's key is units[ls, le) followed by units[rs, re). */
  isJoined(e: number, units: Uint16Array, ls: number, le: number, rs: number, re: number): boolean {
    const pool = this.pool;
    let p = this.records[RECORD * e + KEY_START]!;
    if (this.records[RECORD * e + KEY_END]! - p !== le - ls + re - rs) return false;
    for (let i = ls; i < le; i++) if (pool[p++] !== units[i]) return false;
    for (let i = rs; i < re; i++) if (pool[p++] !== units[i]) return false;
    return true;
  }

  /** Id of `key`, or undefined. */
  get(key: string): number | undefined {
    const { pool, records, table } = this;
    const mask = table.length - 1;
    const hash = hashString(key);
    for (let slot = this.firstSlot(hash); ; slot = (slot + 2) & mask) {
      const e = table[slot + 1]! - 1;
      if (e < 0) return undefined;
      if (table[slot] !== hash) continue;
      let p = records[RECORD * e + KEY_START]!;
      if (records[RECORD * e + KEY_END]! - p !== key.length) continue;
      let i = 0;
      while (i < key.length && pool[p] === key.charCodeAt(i)) { p++; i++; }
      if (i === key.length) return records[RECORD * e + ID]!;
    }
  }

  /** Id of entry e (0 ≤ e < count). */
  idAt(e: number): number {
    return this.records[RECORD * e + ID]!;
  }

  /** Entry e's key as a string (allocates; for the symbol APIs and error messages). */
  keyAt(e: number): string {
    let s = '';
    for (let at = this.records[RECORD * e + KEY_START]!, end = this.records[RECORD * e + KEY_END]!; at < end; at += 4096) {
      s += String.fromCharCode.apply(null, this.pool.subarray(at, Math.min(end, at + 4096)) as unknown as number[]);
    }
    return s;
  }

  /** Largest id, or -1 when empty. */
  maxId(): number {
    if (this.largestIdStale) {
      this.largestId = -1;
      for (let e = 0; e < this.count; e++) if (this.idAt(e) > this.largestId) this.largestId = this.idAt(e);
      this.largestIdStale = false;
    }
    return this.largestId;
  }

  /** [key, id] of every entry, in entry order (for tests and diagnostics). */
  *entries(): IterableIterator<[string, number]> {
    for (let e = 0; e < this.count; e++) yield [this.keyAt(e), this.idAt(e)];
  }
}
