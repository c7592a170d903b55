/**
 * Symbol → id lookup over the vocabulary's own id → symbol array: an open-addressing table of
 * (hash, id) whose keys are verified against `symbols[id]`. Lookups hash the query in place, so
 * merge rules can be resolved straight from merges.txt without cutting substrings, and a
 * concatenation (left + right) can be looked up without building it.
 */
import { hashRange } from './fnv-hash.js';

export class SymbolTable {
  private readonly mask: number;
  private readonly ids: Int32Array;
  private readonly hashes: Int32Array;

  constructor(private readonly symbols: ReadonlyArray<string | undefined>, count: number) {
    let cap = 16;
    while (cap < count * 2) cap <<= 1;
    this.mask = cap - 1;
    this.ids = new Int32Array(cap).fill(-1);
    this.hashes = new Int32Array(cap);
  }

  private slotOf(hash: number): number {
    return (hash ^ (hash >>> 16)) & this.mask;
  }

  /**
   * Maps `symbol` to id; `symbols[id]` must be `symbol`. Returns the id it replaces when the
   * symbol was already mapped (a later id for the same symbol wins), else -1.
   */
  insert(symbol: string, id: number): number {
    const hash = hashRange(symbol, 0, symbol.length);
    let slot = this.slotOf(hash);
    for (;;) {
      const other = this.ids[slot]!;
      if (other === -1) {
        this.ids[slot] = id;
        this.hashes[slot] = hash;
        return -1;
      }
      if (this.hashes[slot] === hash && this.symbols[other] === symbol) {
        this.ids[slot] = id;
        return other === id ? -1 : other;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /** Id of `symbol`, or undefined. */
  get(symbol: string): number | undefined {
    const id = this.findRange(symbol, 0, symbol.length);
    return id < 0 ? undefined : id;
  }

  /** Id of the symbol text[start, end), or -1. */
  findRange(text: string, start: number, end: number): number {
    return this.findConcat(text, start, end, '', 0, 0);
  }

  /** Id of the symbol a[as, ae) + b[bs, be), or -1. */
  findConcat(a: string, as: number, ae: number, b: string, bs: number, be: number): number {
    const hash = hashRange(b, bs, be, hashRange(a, as, ae));
    const length = ae - as + (be - bs);
    let slot = this.slotOf(hash);
    for (;;) {
      const id = this.ids[slot]!;
      if (id === -1) return -1;
      if (this.hashes[slot] === hash) {
        const s = this.symbols[id]!;
        if (s.length === length && matchesAt(s, 0, a, as, ae) && matchesAt(s, ae - as, b, bs, be)) return id;
      }
      slot = (slot + 1) & this.mask;
    }
  }
}

/** True when s[at, at + (end - start)) equals text[start, end). */
export function matchesAt(s: string, at: number, text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (s.charCodeAt(at + i - start) !== text.charCodeAt(i)) return false;
  return true;
}
