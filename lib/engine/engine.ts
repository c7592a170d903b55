/**
 * The engine: the only path from generate/stream/forward to the native model. It batches
 * continuously: every step packs the decode tokens of all running sequences and prefill chunks
 * of new ones (up to maxBatchTokens) into one native call. Requests join and leave between steps,
 * admission is first-come first-served (no starvation), and when the KV pool runs out the most
 * recently admitted sequence is preempted and later recomputed (its full blocks usually survive
 * in the prefix cache). Steps run one at a time; JavaScript stays free while one runs.
 */
import { GptNeoError, fromNativeError } from '../errors.js';
import { KvCacheManager, type KvCacheStats } from '../kv-cache/index.js';
import type { NativeModel } from '../native/types.js';
import { SamplingScratch, noUsableLogits, packSamplingRows, stepSampler } from '../sampling/index.js';
import { EmbedRequest } from './embed-request.js';
import { ForwardRequest } from './forward-request.js';
import { GenerationRequest } from './generation-request.js';
import { DEFAULT_RUN_AHEAD, RunAheadPolicy } from './run-ahead.js';
import type { SequenceProgress } from './sequence.js';
import { packStepBatch, type StepItem } from './step-batch.js';

export interface EngineOptions {
  kvBlocks: number;
  blockSize: number;
  maxBatchTokens: number;
  vocabSize: number;
  prefixCaching?: boolean;
  /** A separate, smaller KV pool for local-attention layers (they only read the last windowSize keys). */
  localWindow?: { windowSize: number; numBlocks: number };
  /** Most decode steps per native call (run-ahead.ts); 1 turns run-ahead off. Default 16. */
  runAhead?: number;
}

type Scheduled = { request: GenerationRequest; item: StepItem };

export interface EngineStats {
  /** Native step calls (a run-ahead call counts once; `runAhead` counts its decode steps). */
  steps: number;
  /** Tokens whose KV was computed (prefix-cache hits excluded). */
  computedTokens: number;
  running: number;
  waiting: number;
  preemptions: number;
  /** Rows whose token was chosen in the native step (argmax or 'sample'), and by the TypeScript sampler. */
  sampledRows: { native: number; typescript: number };
  /** Run-ahead: native calls that took several decode steps, and the decode steps they took. */
  runAhead: { calls: number; steps: number };
  kv: KvCacheStats;
}

export class Engine {
  readonly kv: KvCacheManager;
  readonly scratch = new SamplingScratch();
  private readonly waiting: GenerationRequest[] = [];
  private readonly running: GenerationRequest[] = [];
  /** Requests that run in steps of their own (full forward passes, embeddings), FIFO. */
  private readonly exclusive: Array<ForwardRequest | EmbedRequest> = [];
  /** Alternates exclusive and generation steps so neither starves the other. */
  private lastStepExclusive = false;
  private loop: Promise<void> | undefined;
  private closed = false;
  private steps = 0;
  private computedTokens = 0;
  private preemptions = 0;
  private readonly sampledRows = { native: 0, typescript: 0 };
  private readonly runAheadStats = { calls: 0, steps: 0 };
  private readonly runAhead: RunAheadPolicy;
  /** The addon samples inside the step (output 'sample'). */
  private readonly nativeSampling: boolean;

  constructor(private readonly native: NativeModel, private readonly options: EngineOptions) {
    const info = native.info();
    this.nativeSampling = info.stepSampling === true;
    // Addons that predate run-ahead take one step per call.
    this.runAhead = new RunAheadPolicy(Math.min(options.runAhead ?? DEFAULT_RUN_AHEAD, info.runAheadSteps ?? 1));
    this.kv = new KvCacheManager({ numBlocks: options.kvBlocks, blockSize: options.blockSize,
      prefixCaching: options.prefixCaching ?? true,
      ...(options.localWindow ? { localWindow: options.localWindow } : {}) });
  }

  submitGeneration(request: GenerationRequest): void {
    this.assertOpen();
    this.waiting.push(request);
    this.kick();
  }

  submitForward(request: ForwardRequest | EmbedRequest): void {
    this.assertOpen();
    this.exclusive.push(request);
    this.kick();
  }

  stats(): EngineStats {
    return { steps: this.steps, computedTokens: this.computedTokens, running: this.running.length,
      waiting: this.waiting.length + this.exclusive.length, preemptions: this.preemptions,
      sampledRows: { ...this.sampledRows }, runAhead: { ...this.runAheadStats }, kv: this.kv.stats() };
  }

  /** Fails every queued and running request and waits for the step in flight to end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new GptNeoError('ERR_GPTNEO_DISPOSED', 'The model was disposed while this request was pending'));
    await this.loop;
  }

  private failAll(err: GptNeoError): void {
    for (const r of [...this.waiting, ...this.running]) {
      this.release(r);
      r.fail(err);
    }
    for (const f of this.exclusive) f.fail(err);
    this.waiting.length = 0;
    this.running.length = 0;
    this.exclusive.length = 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new GptNeoError('ERR_GPTNEO_DISPOSED', 'The model has been disposed');
  }

  private hasWork(): boolean {
    return !this.closed && (this.waiting.length > 0 || this.running.length > 0 || this.exclusive.length > 0);
  }

  private kick(): void {
    if (this.loop) return;
    this.loop = this.runLoop().finally(() => {
      this.loop = undefined;
      if (this.hasWork()) this.kick();
    });
  }

  private async runLoop(): Promise<void> {
    while (this.hasWork()) {
      try {
        await this.stepOnce();
      } catch (e) {
        // A bug, not bad input (that is rejected before it reaches the engine): fail what is in
        // flight rather than leave an unhandled rejection, and keep serving later requests.
        this.failAll(new GptNeoError('ERR_GPTNEO_INTERNAL', `The engine failed: ${e instanceof Error ? e.message : String(e)}`,
          { cause: e }));
      }
      // Let new requests and aborts in before the next step.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  private cacheTooSmall(tokens: number, what = 'A sequence'): GptNeoError {
    return new GptNeoError('ERR_GPTNEO_CONTEXT_OVERFLOW',
      `${what} of ${tokens} tokens does not fit in the KV cache (${this.kv.numBlocks} blocks of ${this.kv.blockSize} tokens)`,
      { hint: 'raise kvCacheTokens' });
  }

  /** Admits a sequence that runs whole in one step (no prefix reuse: every row is computed). */
  private admitWhole(seq: SequenceProgress): StepItem {
    const created = this.kv.createSequence(seq.tokens, { reusePrefix: false });
    seq.seqId = created.seqId;
    if (!this.kv.ensureCapacity(created.seqId, seq.tokens.length)) throw this.cacheTooSmall(seq.tokens.length);
    return { seq, ...this.tables(created.seqId), count: seq.tokens.length };
  }

  /** A sequence's block tables for a step: the main pool's, and the local pool's when there is one. */
  private tables(seqId: number): { blockTable: Int32Array; localTable?: Int32Array } {
    const blockTable = this.kv.blockTable(seqId);
    return this.options.localWindow ? { blockTable, localTable: this.kv.localBlockTable(seqId) } : { blockTable };
  }

  private release(r: { seq: { seqId: number | undefined } }): void {
    if (r.seq.seqId !== undefined && this.kv.hasSequence(r.seq.seqId)) this.kv.freeSequence(r.seq.seqId);
    r.seq.seqId = undefined;
  }

  private removeFinished(): void {
    for (const list of [this.running, this.waiting]) {
      for (let i = list.length - 1; i >= 0; i--) {
        const r = list[i]!;
        if (r.finished || r.checkAbort()) {
          this.release(r);
          list.splice(i, 1);
          r.released();
        }
      }
    }
  }

  private async stepOnce(): Promise<void> {
    this.removeFinished();
    const generationWaits = this.running.length > 0 || this.waiting.length > 0;
    const head = this.exclusive[0];
    // An exclusive request that does not fit while generations hold the pool waits for them.
    const headFits = head !== undefined && (!this.running.length || this.kv.canAdmit(
      head instanceof ForwardRequest ? head.seq.tokens.length : head.seqs[head.order[0]!]!.tokens.length));
    if (headFits && !(this.lastStepExclusive && generationWaits)) {
      this.exclusive.shift();
      this.lastStepExclusive = true;
      if (head instanceof ForwardRequest) await this.runForward(head);
      else if (head) await this.runEmbedStep(head);
      return;
    }
    this.lastStepExclusive = false;
    const items = this.schedule();
    if (items.length === 0) return;
    const sampled = items.filter((it) => it.item.seq.computed + it.item.count === it.item.seq.tokens.length);
    const outputRows = new Int32Array(sampled.length);
    let row = 0;
    let r = 0;
    for (const it of items) {
      row += it.item.count;
      if (sampled.includes(it)) outputRows[r++] = row - 1;
    }
    // Rows are reduced natively when possible: argmax when every row is plain greedy, else the whole
    // sampling decision in the step ('sample'; the requests' generators draw here first). 'logits'
    // brings the rows to this thread for the TypeScript sampler (no native sampler, or it is switched off).
    const output = sampled.length === 0 ? 'none' : sampled.every((s) => s.request.plainGreedy) ? 'argmax'
      : this.nativeSampling && stepSampler() === 'native' ? 'sample' : 'logits';
    // A decode-only step whose tokens are chosen natively may run ahead several steps in one call.
    const decodeOnly = (output === 'argmax' || output === 'sample') && sampled.length === items.length &&
      items.every((it) => it.item.count === 1);
    const steps = decodeOnly ? this.runAheadSteps(items) : 1;
    const batch = packStepBatch(items.map((i) => i.item), outputRows, output);
    if (output === 'sample') {
      batch.sampling = packSamplingRows(sampled.map((s) => s.request.nativeRow()));
      if (steps > 1) batch.sampling.u = this.runAheadUniforms(sampled, batch.sampling.u, steps);
    }
    if (steps > 1) batch.steps = steps;
    let result: Float32Array | Int32Array | null;
    const started = performance.now();
    try {
      result = await this.native.step(batch);
      if (decodeOnly) this.runAhead.observe(performance.now() - started, steps);
    } catch (e) {
      const err = fromNativeError(e);
      // The step failed as a whole: every request in it fails; the rest keep running.
      for (const it of items) {
        this.release(it.request);
        it.request.fail(err);
        const at = this.running.indexOf(it.request);
        if (at >= 0) this.running.splice(at, 1);
      }
      return;
    }
    if (this.closed) return;  // close() already failed and released every request of this step
    if (steps > 1) {
      this.acceptRunAhead(sampled, result as Int32Array, steps);
      this.removeFinished();
      return;
    }
    this.steps++;
    for (const it of items) {
      const seq = it.item.seq;
      this.kv.appendTokens(seq.seqId!, seq.tokens.slice(seq.computed, seq.computed + it.item.count));
      seq.computed += it.item.count;
      this.computedTokens += it.item.count;
    }
    const V = this.options.vocabSize;
    this.sampledRows[output === 'logits' ? 'typescript' : 'native'] += sampled.length;
    sampled.forEach((s, i) => {
      if (s.request.finished) return;  // aborted while the step ran: no token is taken
      if (output === 'logits') {
        let tokenId: number;
        try {
          tokenId = s.request.sample((result as Float32Array).subarray(i * V, (i + 1) * V));
        } catch (e) {
          s.request.fail(e);  // a row with no usable logit fails its own request only
          return;
        }
        s.request.accept(tokenId, true);
        return;
      }
      const tokenId = (result as Int32Array)[i]!;
      if (tokenId < 0) s.request.fail(noUsableLogits());  // the native sampler's verdict on this row
      else s.request.accept(tokenId);
    });
    this.removeFinished();
  }

  /**
   * Steps for a decode-only step whose tokens are chosen natively (1 unless run-ahead applies: nothing
   * waits to be admitted, and the policy allows it), with KV capacity reserved and the items' tables
   * refreshed for them.
   */
  private runAheadSteps(items: Scheduled[]): number {
    if (this.waiting.length > 0 || this.exclusive.length > 0) return 1;
    let tokensLeft = Infinity;
    for (const it of items) tokensLeft = Math.min(tokensLeft, it.request.tokensLeft);
    const steps = this.runAhead.choose(tokensLeft);
    if (steps <= 1) return 1;
    // Never preempts for it: without room for every sequence's steps, one step it is.
    for (const it of items) {
      if (!this.kv.ensureCapacity(it.request.seq.seqId!, it.request.seq.computed + steps)) return 1;
    }
    for (const it of items) Object.assign(it.item, this.tables(it.request.seq.seqId!));
    return steps;
  }

  /** A sampled run-ahead's uniforms, [steps, rows]: step 0's from the rows, then each request's next draws. */
  private runAheadUniforms(sampled: Scheduled[], first: Float64Array, steps: number): Float64Array {
    const rows = sampled.length;
    const u = new Float64Array(steps * rows);
    u.set(first);
    for (let j = 1; j < steps; j++) sampled.forEach((s, i) => { u[j * rows + i] = s.request.drawUniform(); });
    return u;
  }

  /**
   * Takes a run-ahead's tokens: `ids` is [steps, rows], row i being sampled[i]'s sequence. A request
   * that finishes part-way (EOS, a stop string, its limit, a row with no usable logit) ignores the
   * rest; the others record the KV of their step inputs (the pending token and the first steps - 1
   * new ones).
   */
  private acceptRunAhead(sampled: Scheduled[], ids: Int32Array, steps: number): void {
    const rows = sampled.length;
    this.steps++;
    this.runAheadStats.calls++;
    this.runAheadStats.steps += steps;
    this.computedTokens += steps * rows;
    this.sampledRows.native += steps * rows;
    sampled.forEach((s, i) => {
      const req = s.request;
      for (let j = 0; j < steps && !req.finished; j++) {
        const tokenId = ids[j * rows + i]!;
        if (tokenId < 0) req.fail(noUsableLogits());  // the native sampler's verdict on this row
        else req.accept(tokenId);
      }
      if (req.finished) return;  // released by removeFinished
      const seq = req.seq;
      this.kv.appendTokens(seq.seqId!, seq.tokens.slice(seq.computed, seq.computed + steps));
      seq.computed += steps;
    });
  }

  /** Chooses this step's work: running sequences first (decode), then new admissions. */
  private schedule(): Scheduled[] {
    let budget = this.options.maxBatchTokens;
    const chosen: Scheduled[] = [];
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const req = this.running[i]!;
      const count = Math.min(req.seq.pending, budget);
      if (!this.reserve(req, count, chosen)) continue;
      if (!this.running.includes(req)) continue;  // preempted itself while reserving
      chosen.push({ request: req, item: { seq: req.seq, blockTable: new Int32Array(0), count } });
      budget -= count;
    }
    while (this.waiting.length > 0 && budget > 0) {
      const req = this.waiting[0]!;
      if (!this.kv.canAdmit(req.seq.tokens.length + 1)) break;  // FIFO: the head waits, nobody overtakes it
      this.waiting.shift();
      const created = this.kv.createSequence(req.seq.tokens);
      req.seq.seqId = created.seqId;
      req.seq.computed = created.cachedTokens;
      if (req.seq.generated === 0) req.seq.cachedPromptTokens = created.cachedTokens;
      this.running.push(req);
      const count = Math.min(req.seq.pending, budget);
      if (!this.kv.ensureCapacity(created.seqId, req.seq.computed + count)) break;
      chosen.push({ request: req, item: { seq: req.seq, blockTable: new Int32Array(0), count } });
      budget -= count;
    }
    if (chosen.length === 0 && this.running.length === 0 && this.waiting.length > 0) {
      const req = this.waiting.shift()!;
      req.fail(this.cacheTooSmall(req.seq.tokens.length));
    }
    for (const c of chosen) Object.assign(c.item, this.tables(c.request.seq.seqId!));
    return chosen;
  }

  /** Makes room for `count` more tokens of `req`, preempting the newest other sequences if needed. */
  private reserve(req: GenerationRequest, count: number, chosen: Scheduled[]): boolean {
    while (!this.kv.ensureCapacity(req.seq.seqId!, req.seq.computed + count)) {
      const victim = [...this.running].reverse().find((v) => v !== req && !chosen.some((c) => c.request === v));
      if (!victim) return false;
      this.preempt(victim);
    }
    return true;
  }

  private preempt(req: GenerationRequest): void {
    this.kv.preempt(req.seq.seqId!);
    req.seq.seqId = undefined;
    req.seq.computed = 0;
    this.running.splice(this.running.indexOf(req), 1);
    this.waiting.unshift(req);
    this.preemptions++;
  }

  /** One step of an embedding request: as many of its (shortest) texts as fit; re-queues the rest. */
  private async runEmbedStep(e: EmbedRequest): Promise<void> {
    if (e.signal?.aborted) {
      e.fail(new GptNeoError('ERR_GPTNEO_ABORTED', 'The embedding request was aborted'));
      return;
    }
    const picked: number[] = [];
    let tokens = 0;
    let blocks = 0;
    const bs = this.kv.blockSize;
    for (const idx of e.order) {
      const n = e.seqs[idx]!.tokens.length;
      const need = Math.ceil(n / bs);
      if (picked.length > 0 && (tokens + n > this.options.maxBatchTokens || !this.kv.canAdmit((blocks + need) * bs))) break;
      picked.push(idx);
      tokens += n;
      blocks += need;
    }
    if (!this.kv.canAdmit(blocks * bs)) {
      e.fail(this.cacheTooSmall(tokens, 'A text'));
      return;
    }
    e.order.splice(0, picked.length);
    const items: StepItem[] = [];
    try {
      for (const idx of picked) items.push(this.admitWhole(e.seqs[idx]!));
      let row = 0;
      const rows = new Int32Array(items.length);
      items.forEach((it, i) => {
        rows[i] = e.pooling === 'first' ? row : row + it.count - 1;
        row += it.count;
      });
      const output = e.pooling === 'mean' ? 'mean' : 'hidden';
      const pooled = await this.native.step(packStepBatch(items, rows, output)) as Float32Array;
      if (this.closed) return;
      this.steps++;
      this.computedTokens += tokens;
      e.store(picked, pooled, pooled.length / picked.length);
      if (!e.done) this.exclusive.push(e);
    } catch (err) {
      e.fail(fromNativeError(err));
    } finally {
      for (const idx of picked) this.release({ seq: e.seqs[idx]! });
    }
  }

  private async runForward(f: ForwardRequest): Promise<void> {
    const n = f.seq.tokens.length;
    if (!this.kv.canAdmit(n)) {
      f.fail(this.cacheTooSmall(n));
      return;
    }
    try {
      const item = this.admitWhole(f.seq);
      const outputRows = Int32Array.from({ length: n }, (_, i) => i);
      const result = await this.native.step(packStepBatch([item], outputRows, f.output));
      if (this.closed) return;
      this.steps++;
      this.computedTokens += n;
      this.kv.appendTokens(f.seq.seqId!, f.seq.tokens);
      f.resolve(result as Float32Array);
    } catch (e) {
      f.fail(fromNativeError(e));
    } finally {
      this.release(f);
    }
  }
}
