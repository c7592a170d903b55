/** Throttled, monotonic progress events for one file download. */
import type { HubProgress } from './types.js';

export const PROGRESS_INTERVAL_MS = 100;

export class ProgressReporter {
  private lastLoaded = -1;
  private lastTime = 0;

  constructor(
    private readonly callback: ((p: HubProgress) => void) | undefined,
    private readonly file: string,
    private readonly total: number | undefined,
  ) {}

  /** Reports `loaded` bytes, at most every PROGRESS_INTERVAL_MS, never below a value already reported. */
  update(loaded: number): void {
    if (!this.callback || loaded < this.lastLoaded) return;
    const now = Date.now();
    if (this.lastLoaded >= 0 && now - this.lastTime < PROGRESS_INTERVAL_MS) return;
    this.emit(loaded, false, now);
  }

  /** Sends the final event of the file. */
  done(loaded: number): void {
    if (this.callback) this.emit(Math.max(loaded, this.lastLoaded), true, Date.now());
  }

  private emit(loaded: number, done: boolean, now: number): void {
    this.lastLoaded = loaded;
    this.lastTime = now;
    this.callback?.({ file: this.file, loaded, total: this.total, done });
  }
}
