/**
 * Stop strings over streamed text. Text arrives in pieces (one per token, split anywhere); the
 * matcher emits only text that can no longer be part of a stop string, and stops at the first one.
 *
 * Which stop wins: the occurrence that ends first in the text (ties: the longest, i.e. the one that
 * starts first). This is what a token-by-token check would see, and it does not depend on how the
 * text was split into pieces. The text emitted in total is exactly the text before that occurrence.
 */
export interface StopStringStep {
  /** Text that is now safe to show (possibly empty). */
  emit: string;
  /** True once a stop string has matched; later pushes emit nothing. */
  stopped: boolean;
}

export class StopStringMatcher {
  private readonly stops: readonly string[];
  private held = '';
  private matched: string | undefined;

  /** `stops` must be non-empty strings (validated options guarantee it); an empty list never stops. */
  constructor(stops: readonly string[]) {
    if (stops.some((s) => s.length === 0)) throw new RangeError('stop strings must be non-empty');
    this.stops = stops;
  }

  /** True once a stop string has matched. */
  get stopped(): boolean {
    return this.matched !== undefined;
  }

  /** The stop string that matched, if any. */
  get matchedStop(): string | undefined {
    return this.matched;
  }

  /** Adds the next piece of text; returns what may be shown now. */
  push(textDelta: string): StopStringStep {
    if (this.matched !== undefined) return { emit: '', stopped: true };
    const text = this.held + textDelta;
    const match = this.firstMatch(text);
    if (match) {
      this.matched = match.stop;
      this.held = '';
      return { emit: text.slice(0, match.start), stopped: true };
    }
    const keep = this.partialMatchLength(text);
    this.held = text.slice(text.length - keep);
    return { emit: text.slice(0, text.length - keep), stopped: false };
  }

  /** At the end of generation: the held-back text ('' after a stop). */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  /** The complete occurrence that ends first (ties: the longest). Text held earlier contains none. */
  private firstMatch(text: string): { start: number; stop: string } | undefined {
    let best: { start: number; stop: string } | undefined;
    let bestEnd = Infinity;
    for (const stop of this.stops) {
      const start = text.indexOf(stop);
      if (start < 0) continue;
      const end = start + stop.length;
      if (end < bestEnd || (end === bestEnd && stop.length > best!.stop.length)) {
        best = { start, stop };
        bestEnd = end;
      }
    }
    return best;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private partialMatchLength(text: string): number {
    let best = 0;
    for (const stop of this.stops) {
      // Candidate starts, longest suffix first; only suffixes longer than the best so far matter.
      for (let start = Math.max(0, text.length - stop.length + 1); start < text.length - best; start++) {
        if (startsWithTail(stop, text, start)) {
          best = text.length - start;
          break;
        }
      }
    }
    return best;
  }
}

/** True when text[start..] is a prefix of `stop` (the caller guarantees it is shorter than `stop`). */
function startsWithTail(stop: string, text: string, start: number): boolean {
  for (let i = start; i < text.length; i++) if (text.charCodeAt(i) !== stop.charCodeAt(i - start)) return false;
  return true;
}
