/**
 * Admission control: at most `maxRunning` requests hand work to the model at once, at most
 * `maxQueue` more wait (first come, first served), and any beyond that are refused with 429 and
 * Retry-After. A waiting request whose client goes away leaves the queue.
 */
import { HttpError } from './errors.js';

/** Frees the slot a request holds; calling it more than once is harmless. */
export type Release = () => void;

interface Waiter {
  admit: (release: Release) => void;
  reject: (e: unknown) => void;
}

export class Admission {
  private runningCount = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly maxRunning: number, readonly maxQueue: number, private readonly retryAfterSeconds = 1) {}

  /** Requests holding a slot. */
  get running(): number {
    return this.runningCount;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with a release function once the request holds a slot. Rejects at once with a 429
   * when the queue is full, or with `signal`'s reason when it aborts while waiting.
   */
  acquire(signal: AbortSignal): Promise<Release> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.runningCount < this.maxRunning && this.queue.length === 0) return Promise.resolve(this.grant());
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new HttpError(429,
        `The server is busy: ${this.runningCount} requests are running and ${this.queue.length} are waiting; retry later`,
        { type: 'rate_limit_error', code: 'server_busy', headers: { 'Retry-After': String(this.retryAfterSeconds) } }));
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        admit: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject,
      };
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private grant(): Release {
    this.runningCount++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.runningCount--;
      const next = this.queue.shift();
      if (next) next.admit(this.grant());
    };
  }
}
