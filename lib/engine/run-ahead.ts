/**
 * Decode run-ahead: how many decode steps one native call takes.
 *
 * When every running request is decoding and its tokens are chosen natively (greedy argmax, or the
 * in-step sampler with uniforms drawn in advance), and nothing waits to be admitted, the native side
 * can feed each step's token to the next step itself (NativeStepBatch.steps; on CUDA a greedy run
 * replays the recorded step back to back with no host sync in between, a sampled one samples each
 * step's logits on the host between steps), so a token no longer pays a round trip through JavaScript. Tokens then arrive in bursts, and new requests, aborts and
 * cancellations wait for a burst to end: the policy keeps a burst under a time budget, measured
 * from the decode steps themselves, and never runs a request past its token limit. Where one step
 * already takes longer than budget / 2 (a large model on a CPU) it stays at one step per call.
 */

/** Default most steps per call (LoadModelOptions.runAhead). */
export const DEFAULT_RUN_AHEAD = 16;
/** The most steps one call may take (the native limit, csrc/model/gpt_neo.h kMaxRunAheadSteps). */
export const MAX_RUN_AHEAD = 256;
/** Longest a burst should take. */
export const RUN_AHEAD_BUDGET_MS = 20;

export class RunAheadPolicy {
  /** Smoothed wall time of one decode step, round trip included (undefined until measured). */
  private msPerStep: number | undefined;

  /**
   * @param maxSteps most steps per call (1: run-ahead off)
   * @param budgetMs longest a call should take
   */
  constructor(readonly maxSteps: number, readonly budgetMs = RUN_AHEAD_BUDGET_MS) {}

  /** Records a decode-only call of `steps` steps that took `elapsedMs`. */
  observe(elapsedMs: number, steps: number): void {
    const perStep = elapsedMs / steps;
    // Weighted towards the latest: the first call of a shape (a CUDA graph being recorded) is slow.
    this.msPerStep = this.msPerStep === undefined ? perStep : 0.5 * this.msPerStep + 0.5 * perStep;
  }

  /** Steps for the next decode call, given the fewest tokens any of its requests may still generate. */
  choose(tokensLeft: number): number {
    if (this.maxSteps <= 1 || this.msPerStep === undefined) return 1;
    const byBudget = Math.floor(this.budgetMs / Math.max(this.msPerStep, 1e-3));
    const steps = Math.min(this.maxSteps, byBudget, tokensLeft);
    return steps >= 2 ? steps : 1;
  }
}
