/**
 * The BPE merge rules as an open-addressing hash table keyed by the pair of token ids
 * (left, right). Each slot is four consecutive Int32 (left, right, rank, merged id), so a probe
 * touches one cache line; a lookup allocates nothing and handles no strings.
 */
const STRIDE = 4;

export class MergeTable {
  private readonly mask: number;
  private readonly slots: Int32Array;
  /** Number of merge rules stored. */
  size = 0;

  constructor(capacityHint: number) {
    let cap = 16;
    while (cap < capacityHint * 2) cap <<= 1;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * STRIDE).fill(-1);
  }

  private static hash(left: number, right: number): number {
    return (Math.imul(left, 0x9e3779b1) ^ Math.imul(right, 0x85ebca6b)) >>> 0;
  }

  /** Adds a rule unless the pair already has one (the first, lowest-ranked rule wins). */
  add(left: number, right: number, rank: number, result: number): void {
    if (this.size * 2 >= this.mask + 1) throw new RangeError('MergeTable capacity exceeded');
    const slots = this.slots;
    let slot = MergeTable.hash(left, right) & this.mask;
    for (;;) {
      const at = slot * STRIDE;
      if (slots[at] === -1) {
        slots[at] = left;
        slots[at + 1] = right;
        slots[at + 2] = rank;
        slots[at + 3] = result;
        this.size++;
        return;
      }
      // Both halves are compared on every occupied slot (not short-circuited), so optimised code
      // built early in a load has seen this path and need not bail out when a left id repeats.
      if (((slots[at]! ^ left) | (slots[at + 1]! ^ right)) === 0) return;
      slot = (slot + 1) & this.mask;
    }
  }

  /**
   * Index of the rule for (left, right) to pass to rankAt/resultAt, or -1 when the pair does
   * not merge.
   */
  find(left: number, right: number): number {
    const slots = this.slots;
    let slot = MergeTable.hash(left, right) & this.mask;
    for (;;) {
      const at = slot * STRIDE;
      const l = slots[at]!;
      if (l === left && slots[at + 1] === right) return at;
      if (l === -1) return -1;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Rank of the rule for (left, right), or -1 when the pair does not merge. */
  rank(left: number, right: number): number {
    const at = this.find(left, right);
    return at < 0 ? -1 : this.slots[at + 2]!;
  }

  /** Rank of the rule at an index returned by find(). */
  rankAt(at: number): number {
    return this.slots[at + 2]!;
  }

  /** Merged token id of the rule at an index returned by find(). */
  resultAt(at: number): number {
    return this.slots[at + 3]!;
  }
}
