/**
 * model.embed(): many texts, each run whole (no cache reuse, so every row is computed), packed
 * several per step up to maxBatchTokens after sorting by length; pooling happens natively
 * ('mean' over ln_f rows, or the 'first'/'last' row), normalisation here.
 */
import { SequenceProgress } from './sequence.js';

export type Pooling = 'mean' | 'last' | 'first';

export class EmbedRequest {
  readonly seqs: SequenceProgress[];
  readonly pooling: Pooling;
  readonly normalize: boolean;
  /** Indices into seqs, shortest first; consumed from the front as steps run. */
  readonly order: number[];
  readonly vectors: Array<Float32Array | undefined>;
  readonly result: Promise<Float32Array[]>;
  private settle!: { resolve: (v: Float32Array[]) => void; reject: (e: unknown) => void };
  done = false;

  /** Aborts the remaining steps (texts already computed are dropped). */
  readonly signal: AbortSignal | undefined;

  constructor(inputs: number[][], pooling: Pooling, normalize: boolean, signal?: AbortSignal) {
    this.signal = signal;
    this.seqs = inputs.map((ids) => new SequenceProgress(ids));
    this.pooling = pooling;
    this.normalize = normalize;
    this.order = inputs.map((_, i) => i).sort((a, b) => inputs[a]!.length - inputs[b]!.length);
    this.vectors = new Array(inputs.length).fill(undefined);
    this.result = new Promise<Float32Array[]>((resolve, reject) => { this.settle = { resolve, reject }; });
  }

  /** Stores pooled vectors (row-major [count, hidden]) for sequences `indices`. */
  store(indices: readonly number[], pooled: Float32Array, hidden: number): void {
    indices.forEach((idx, i) => {
      const v = pooled.slice(i * hidden, (i + 1) * hidden);
      if (this.normalize) {
        let norm = 0;
        for (let c = 0; c < hidden; c++) norm += v[c]! * v[c]!;
        norm = Math.sqrt(norm);
        if (norm > 0) for (let c = 0; c < hidden; c++) v[c] = v[c]! / norm;
      }
      this.vectors[idx] = v;
    });
    if (this.order.length === 0) {
      this.done = true;
      this.settle.resolve(this.vectors as Float32Array[]);
    }
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.settle.reject(error);
  }
}
