/**
 * model.forward(): one whole sequence in one step, every row's logits or final hidden state,
 * nothing kept in the cache afterwards.
 */
import { SequenceProgress } from './sequence.js';

export class ForwardRequest {
  readonly seq: SequenceProgress;
  readonly output: 'logits' | 'hidden';
  private settle!: { resolve: (v: Float32Array) => void; reject: (e: unknown) => void };
  readonly result: Promise<Float32Array>;

  constructor(ids: readonly number[], output: 'logits' | 'hidden') {
    this.seq = new SequenceProgress(ids);
    this.output = output;
    this.result = new Promise<Float32Array>((resolve, reject) => { this.settle = { resolve, reject }; });
  }

  resolve(values: Float32Array): void {
    this.settle.resolve(values);
  }

  fail(error: unknown): void {
    this.settle.reject(error);
  }
}
