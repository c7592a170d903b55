/**
 * A single-consumer async queue: the engine pushes chunks as steps complete, `stream()`'s
 * iterator pulls them. Ends with `close()` or `fail(error)`.
 */
export class ChunkQueue<T> implements AsyncIterable<T> {
  /** Called once when the consumer stops early (break out of for-await, or return()). */
  onCancel: (() => void) | undefined;
  private readonly items: T[] = [];
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private closed = false;
  private error: unknown;
  private failed = false;

  push(item: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      if (this.failed) w.reject(this.error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failed = true;
    this.error = error;
    this.close();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.closed) return this.failed ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => { this.waiting = { resolve, reject }; });
  }

  /** Drops the items the consumer has not taken yet; returns how many. */
  discardQueued(): number {
    const n = this.items.length;
    this.items.length = 0;
    return n;
  }

  /** The consumer is done: drop what is queued, end the iteration, and tell the producer. */
  return(): Promise<IteratorResult<T>> {
    const wasOpen = !this.closed;
    this.discardQueued();
    this.close();
    if (wasOpen) this.onCancel?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next(), return: () => this.return() };
  }
}
