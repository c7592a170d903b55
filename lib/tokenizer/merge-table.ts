/**
 * The BPE merge rules as an open-addressing hash table keyed by the pair of token ids
 * (left, right). A lookup returns the merge's rank (priority: lower merges first) and the id of
 * the merged token, with no allocation and no string handling.
 */
export class MergeTable {
  private readonly mask: number;
  private readonly lefts: Int32Array;
  private readonly rights: Int32Array;
  private readonly ranks: Int32Array;
  private readonly results: Int32Array;
  /** Number of merge rules stored. */
  size = 0;

  constructor(capacityHint: number) {
    let cap = 16;
    while (cap < capacityHint * 2) cap <<= 1;
    this.mask = cap - 1;
    this.lefts = new Int32Array(cap).fill(-1);
    this.rights = new Int32Array(cap);
    this.ranks = new Int32Array(cap);
    this.results = new Int32Array(cap);
  }

  private static hash(left: number, right: number): number {
    return (Math.imul(left, 0x9e3779b1) ^ Math.imul(right, 0x85ebca6b)) >>> 0;
  }

  /** Adds a rule unless the pair already has one (the first, lowest-ranked rule wins). */
  add(left: number, right: number, rank: number, result: number): void {
    if (this.size * 2 >= this.mask + 1) throw new RangeError('MergeTable capacity exceeded');
    let slot = MergeTable.hash(left, right) & this.mask;
    while (this.lefts[slot] !== -1) {
      if (this.lefts[slot] === left && this.rights[slot] === right) return;
      slot = (slot + 1) & this.mask;
    }
    this.lefts[slot] = left;
    this.rights[slot] = right;
    this.ranks[slot] = rank;
    this.results[slot] = result;
    this.size++;
  }

  /** Slot of the rule for (left, right), or -1 when the pair does not merge. */
  find(left: number, right: number): number {
    const lefts = this.lefts;
    let slot = MergeTable.hash(left, right) & this.mask;
    for (;;) {
      const l = lefts[slot]!;
      if (l === left && this.rights[slot] === right) return slot;
      if (l === -1) return -1;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Rank of the rule for (left, right), or -1 when the pair does not merge. */
  rank(left: number, right: number): number {
    const slot = this.find(left, right);
    return slot < 0 ? -1 : this.ranks[slot]!;
  }

  /** Rank stored in a slot returned by find(). */
  rankAt(slot: number): number {
    return this.ranks[slot]!;
  }

  /** Merged token id stored in a slot returned by find(). */
  resultAt(slot: number): number {
    return this.results[slot]!;
  }
}
