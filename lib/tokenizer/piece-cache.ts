/**
 * A bounded cache from pre-token text to its token ids, with two generations: lookups hit the
 * young generation first, then the old one (promoting the entry). When the young generation is
 * full it becomes the old one and the previous old generation is dropped, so memory stays under
 * two generations' worth and frequently used pieces survive, like an LRU at a fraction of the cost.
 * A piece that is a single token is stored as the number itself.
 */
export type CachedIds = number | Int32Array;

export class PieceCache {
  private young = new Map<string, CachedIds>();
  private old = new Map<string, CachedIds>();

  /** @param generationSize entries per generation (at most twice this many are held). */
  constructor(private readonly generationSize: number) {}

  get(piece: string): CachedIds | undefined {
    const hit = this.young.get(piece);
    if (hit !== undefined) return hit;
    const oldHit = this.old.get(piece);
    if (oldHit !== undefined) this.set(piece, oldHit);
    return oldHit;
  }

  set(piece: string, ids: CachedIds): void {
    if (this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(piece, ids);
  }

  /** Entries currently held (both generations; a promoted piece may count twice). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}
