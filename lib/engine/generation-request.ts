/**
 * A generation request inside the engine: samples a token whenever its last token's logits
 * arrive, turns tokens into text (incremental detokenizer, stop strings), and streams chunks.
 */
import {
  Sampler, StopConditions, StopStringMatcher, type FinishReason, type NativeSamplingRow, type NormalizedSamplingOptions,
  type SamplingScratch,
} from '../sampling/index.js';
import { onAbort } from './abort-subscriptions.js';
import { ChunkQueue } from './chunk-queue.js';
import { SequenceProgress } from './sequence.js';
import type { GenerationChunk, TextDecoderSource, Usage } from './types.js';

export class GenerationRequest {
  readonly seq: SequenceProgress;
  readonly options: NormalizedSamplingOptions;
  readonly chunks = new ChunkQueue<GenerationChunk>();
  /** True when argmax of the raw logits is the whole sampling rule (native argmax may be used). */
  readonly plainGreedy: boolean;
  finishReason: FinishReason | undefined;
  /** Set when the consumer stopped reading: the engine ends the request at the next step. */
  private cancelled = false;
  /** Generated tokens whose chunks an abort dropped unread (see abortNow). */
  private discarded = 0;
  /** abortNow ran; the final chunk waits for the engine to release the request. */
  private abortPending = false;
  /** Ends the abort subscription (a no-op once the request has ended). */
  private unsubscribe: () => void = () => {};
  private readonly sampler: Sampler;
  private readonly stopConditions: StopConditions;
  private readonly matcher: StopStringMatcher | undefined;
  private readonly decoder: { push(id: number): string; flush(): string } | undefined;

  constructor(promptIds: readonly number[], options: NormalizedSamplingOptions, init: {
    eosTokenId: number | undefined;
    tokenLimit: number;
    text: TextDecoderSource | undefined;
    scratch: SamplingScratch;
  }) {
    this.seq = new SequenceProgress(promptIds);
    this.options = options;
    this.sampler = new Sampler(options, { promptIds, scratch: init.scratch });
    this.stopConditions = new StopConditions(options, { eosTokenId: init.eosTokenId, tokenLimit: init.tokenLimit });
    this.decoder = init.text?.createStreamDecoder();
    this.matcher = options.stop.length > 0 ? new StopStringMatcher(options.stop) : undefined;
    this.chunks.onCancel = () => { this.cancelled = true; };
    if (options.signal) this.unsubscribe = onAbort(options.signal, () => this.abortNow());
    this.plainGreedy = options.temperature === 0 && options.repetitionPenalty === 1 && options.presencePenalty === 0
      && options.frequencyPenalty === 0 && options.logitBias.size === 0;
  }

  get finished(): boolean {
    return this.finishReason !== undefined;
  }

  /** The generated tokens the consumer gets (those an abort dropped unread excluded). */
  get tokenIds(): number[] {
    return this.seq.tokens.slice(this.seq.promptLength, this.seq.tokens.length - this.discarded);
  }

  /** Checked before each step: an aborted request leaves at the step boundary. */
  checkAbort(): boolean {
    const reason = this.cancelled ? 'abort' : this.stopConditions.beforeStep();
    if (reason) this.finish(reason);
    return this.finished;
  }

  /** Tokens this request may still generate before its length limit (Infinity without one). */
  get tokensLeft(): number {
    return this.stopConditions.tokensLeft(this.seq.generated);
  }

  /** This step's row for the native sampler (draws the step's uniform: call once per sampling step). */
  nativeRow(): NativeSamplingRow {
    return this.sampler.nativeRow();
  }

  /** The uniform of this request's draw at a later step of a native run-ahead (see Sampler.drawUniform). */
  drawUniform(): number {
    return this.sampler.drawUniform();
  }

  /** Samples the next token from a row of logits (TypeScript sampler); throws when the row has nothing usable. */
  sample(row: Float32Array): number {
    return this.sampler.sample(row);
  }

  /** Takes the next token: one `sample()` returned (`sampled`), or one native code chose (argmax or 'sample'). */
  accept(tokenId: number, sampled = false): void {
    if (!sampled) this.sampler.record(tokenId);
    this.seq.tokens.push(tokenId);
    let reason = this.stopConditions.afterToken(tokenId, this.seq.generated);
    // EOS and stop ids end the text without adding their own text.
    const ends = reason === 'stop';
    let text = ends || !this.decoder ? '' : this.decoder.push(tokenId);
    if (this.matcher && text) {
      const step = this.matcher.push(text);
      text = step.emit;
      if (step.stopped) reason = 'stop';
    }
    if (reason) {
      text += this.flushText();
      this.end(reason);
      this.chunks.push({ text, tokenId, finishReason: reason, usage: this.usage() });
      this.chunks.close();
      return;
    }
    this.chunks.push({ text, tokenId });
  }

  /** Ends the request without a new token (abort, or the engine shutting down). */
  finish(reason: FinishReason): void {
    if (this.finished) return;
    this.end(reason);
    const text = this.flushText();
    this.chunks.push({ text, tokenId: -1, finishReason: reason, usage: this.usage() });
    this.chunks.close();
  }

  fail(error: unknown): void {
    if (this.abortPending) {
      this.released();  // it had ended by its abort already
      return;
    }
    if (this.finished) return;
    this.end('abort');
    this.chunks.fail(error);
  }

  /**
   * The signal fired: the request ends at once, even while a step runs (the engine takes no more of
   * its tokens). Chunks not yet read are dropped (a run-ahead can have queued a burst of them), and so
   * is the text they carried; usage and `tokenIds` count only the tokens delivered. The final chunk
   * follows when the engine lets the request go (`released`, at the end of the step in flight), so
   * that a finished generate() or stream has freed its KV blocks.
   */
  private abortNow(): void {
    if (this.finished) return;
    this.discarded = this.chunks.discardQueued();
    this.end('abort');
    this.abortPending = true;
  }

  /** The engine has let the request go (its KV blocks are free): an abort's final chunk is sent now. */
  released(): void {
    if (!this.abortPending) return;
    this.abortPending = false;
    // Text the decoder holds belongs to the tokens delivered only when none was dropped.
    const text = this.discarded === 0 ? this.flushText() : '';
    this.chunks.push({ text, tokenId: -1, finishReason: 'abort', usage: this.usage() });
    this.chunks.close();
  }

  private end(reason: FinishReason): void {
    this.finishReason = reason;
    this.unsubscribe();
  }

  usage(): Usage {
    const promptTokens = this.seq.promptLength;
    const completionTokens = this.seq.generated - this.discarded;
    return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens,
      cachedPromptTokens: this.seq.cachedPromptTokens };
  }

  private flushText(): string {
    if (this.matcher?.stopped) return '';
    // After EOS/stop-id or an abort, text still held by the decoder is emitted (it was generated).
    let tail = this.decoder ? this.decoder.flush() : '';
    if (this.matcher) {
      const step = this.matcher.push(tail);
      tail = step.emit + (step.stopped ? '' : this.matcher.flush());
    }
    return tail;
  }
}
