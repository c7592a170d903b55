/**
 * A request's penalty state as packed typed arrays, kept up to date token by token, for the native
 * in-step sampler (native-rows.ts): the distinct prompt + generated ids (repetition penalty) and the
 * generated ids with their counts (presence/frequency penalties). It mirrors `SamplingState`'s Set and
 * Map (the TypeScript sampler's view) without rebuilding arrays at every step. A list is kept only when
 * the request's options use it; otherwise it stays empty, which the native sampler treats as no penalty.
 */
function grown(a: Int32Array<ArrayBuffer>, need: number): Int32Array<ArrayBuffer> {
  if (need <= a.length) return a;
  const b = new Int32Array(Math.max(need, a.length * 2, 16));
  b.set(a);
  return b;
}

export class PenaltyHistory {
  private seen: Int32Array<ArrayBuffer> = new Int32Array(0);
  private seenLength = 0;
  private readonly seenSet: Set<number> | undefined;
  private countIds: Int32Array<ArrayBuffer> = new Int32Array(0);
  private countValues: Int32Array<ArrayBuffer> = new Int32Array(0);
  private countLength = 0;
  private readonly slotOf: Map<number, number> | undefined;

  /** `trackSeen`: repetition penalty on; `trackCounts`: presence or frequency penalty on. */
  constructor(promptIds: Iterable<number>, trackSeen: boolean, trackCounts: boolean) {
    this.seenSet = trackSeen ? new Set() : undefined;
    this.slotOf = trackCounts ? new Map() : undefined;
    if (trackSeen) for (const id of promptIds) this.addSeen(id);
  }

  /** Records a generated token. */
  record(tokenId: number): void {
    this.addSeen(tokenId);
    if (!this.slotOf) return;
    const slot = this.slotOf.get(tokenId);
    if (slot !== undefined) {
      this.countValues[slot]!++;
      return;
    }
    this.countIds = grown(this.countIds, this.countLength + 1);
    this.countValues = grown(this.countValues, this.countLength + 1);
    this.slotOf.set(tokenId, this.countLength);
    this.countIds[this.countLength] = tokenId;
    this.countValues[this.countLength++] = 1;
  }

  /** Distinct prompt and generated ids (views, valid until the next record()). */
  seenIds(): Int32Array {
    return this.seen.subarray(0, this.seenLength);
  }

  /** Generated ids and how often each was generated (views, valid until the next record()). */
  counts(): { ids: Int32Array; counts: Int32Array } {
    return { ids: this.countIds.subarray(0, this.countLength), counts: this.countValues.subarray(0, this.countLength) };
  }

  private addSeen(id: number): void {
    if (!this.seenSet || this.seenSet.has(id)) return;
    this.seenSet.add(id);
    this.seen = grown(this.seen, this.seenLength + 1);
    this.seen[this.seenLength++] = id;
  }
}
