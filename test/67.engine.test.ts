// The generation engine: continuous batching gives the same tokens as running requests alone,
// seeds are per request, streams equal generate, stop conditions and aborts end requests at the
// right place, the prefix cache saves work, preemption is invisible, and no KV block leaks.
import { strict as assert } from 'node:assert';
import { loadModel, type GenerationResult, type GptNeoModel } from '../lib/index.js';
import { assertRejectsWith } from './helpers/checkpoints.js';
import { loadFixtureCase, maxAbsDiff, type FixtureCase } from './helpers/fixture-data.js';

function prompts(n: number, len: number, vocab: number): number[][] {
  let s = 12345;
  return Array.from({ length: n }, () => Array.from({ length: len }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % vocab;
  }));
}

describe('67 engine (tiny-neo-gpt2vocab, cpu)', () => {
  let fx: FixtureCase;
  let model: GptNeoModel;
  before(async () => {
    fx = await loadFixtureCase('tiny-neo-gpt2vocab');
    model = await loadModel(fx.dir, { device: 'cpu', threads: 2, maxBatchTokens: 64 });
  });
  afterEach(() => assert.equal(model.stats().kv.usedBlocks, 0, 'a request leaked KV blocks'));
  after(() => model?.dispose());

  it("the left-padded batch's rows equal the prompts run alone (batch_* fixtures)", async () => {
    const ids = await fx.tensor('batch_input_ids') as Int32Array;
    const mask = await fx.tensor('batch_attention_mask') as Int32Array;
    const greedy = await fx.tensor('batch_greedy_ids') as Int32Array;
    const lastLogits = await fx.tensor('batch_last_logits') as Float32Array;
    const V = model.config.vocabSize;
    const rows = [0, 1, 2].map((r) => Array.from(ids.subarray(r * 37, (r + 1) * 37)).filter((_, j) => mask[r * 37 + j] === 1));
    // Packed (no padding) and concurrent: the engine batches the three into shared steps.
    const outs = await Promise.all(rows.map((p) => model.generate(p, { maxNewTokens: 24, temperature: 0 })));
    rows.forEach((_, r) => assert.deepEqual(outs[r]!.tokenIds, Array.from(greedy.subarray(r * 61 + 37, (r + 1) * 61)), `row ${r}`));
    for (const [r, p] of rows.entries()) {
      const logits = await model.forward(p);
      const diff = maxAbsDiff(logits.subarray((p.length - 1) * V, p.length * V), lastLogits.subarray(r * V, (r + 1) * V));
      assert.ok(diff <= 1e-4, `row ${r}: ${diff}`);
    }
  });

  it('8 concurrent greedy calls equal the same calls run one after another', async () => {
    const ps = prompts(8, 20, model.config.vocabSize).map((p, i) => p.slice(0, 5 + 2 * i));
    const sequential: GenerationResult[] = [];
    for (const p of ps) sequential.push(await model.generate(p, { maxNewTokens: 16, temperature: 0 }));
    const concurrent = await Promise.all(ps.map((p) => model.generate(p, { maxNewTokens: 16, temperature: 0 })));
    concurrent.forEach((c, i) => assert.deepEqual(c.tokenIds, sequential[i]!.tokenIds, `request ${i}`));
  });

  it('the same seed gives the same text whatever else is in the batch; stream == generate', async () => {
    const opts = { maxNewTokens: 20, temperature: 1.2, topK: 50, topP: 0.95, seed: 42 };
    const alone = await model.generate('The quick brown fox', opts);
    const crowd = await Promise.all([
      model.generate('Something else entirely', { ...opts, seed: 7 }),
      model.generate('The quick brown fox', opts),
      model.generate('Once upon a time', { maxNewTokens: 30, temperature: 0.7, seed: 3 }),
    ]);
    assert.equal(crowd[1]!.text, alone.text);
    assert.deepEqual(crowd[1]!.tokenIds, alone.tokenIds);
    let streamed = '';
    const ids: number[] = [];
    let last;
    for await (const c of model.stream('The quick brown fox', opts)) {
      streamed += c.text;
      ids.push(c.tokenId);
      last = c;
    }
    assert.equal(streamed, alone.text);
    assert.deepEqual(ids, alone.tokenIds);
    assert.equal(last!.finishReason, 'length');
    assert.deepEqual(last!.usage, alone.usage);
    const other = await model.generate('The quick brown fox', { ...opts, seed: 43 });
    assert.notDeepEqual(other.tokenIds, alone.tokenIds);
  });

  it('stop strings end the text before the stop, across token boundaries', async () => {
    const seq = fx.json.sequences[1]!;
    const full = seq.greedy_new_text!;
    // A stop string that starts inside one token and ends inside a later one.
    const at = Math.floor(full.length / 2);
    const stop = full.slice(at, at + 5);
    const first = full.indexOf(stop);
    const out = await model.generate(seq.prompt_text!, { maxNewTokens: 24, temperature: 0, stop: [stop, 'zzzz-never'] });
    assert.equal(out.finishReason, 'stop');
    assert.equal(out.text, full.slice(0, first));
    let streamed = '';
    for await (const c of model.stream(seq.prompt_text!, { maxNewTokens: 24, temperature: 0, stop })) streamed += c.text;
    assert.equal(streamed, out.text);
  });

  it('stopTokenIds stop at the first occurrence (the stop token is the last id)', async () => {
    const seq = fx.json.sequences[0]!;
    const target = seq.greedy_new_ids[6]!;
    const firstAt = seq.greedy_new_ids.indexOf(target);
    const out = await model.generate(seq.input_ids, { maxNewTokens: 24, temperature: 0, stopTokenIds: [target] });
    assert.equal(out.finishReason, 'stop');
    assert.deepEqual(out.tokenIds, seq.greedy_new_ids.slice(0, firstAt + 1));
  });

  it('abort ends a request at the next step and frees its blocks; others continue', async () => {
    const controller = new AbortController();
    const seq = fx.json.sequences[2]!;
    const bystander = model.generate(seq.input_ids, { maxNewTokens: 24, temperature: 0 });
    let n = 0;
    let last;
    for await (const c of model.stream('Tell me a story', { maxNewTokens: 200, temperature: 0, ignoreEos: true, signal: controller.signal })) {
      if (++n === 3) controller.abort();
      last = c;
    }
    assert.equal(last!.finishReason, 'abort');
    assert.ok(n <= 5, `ran ${n} steps after the abort`);
    assert.deepEqual((await bystander).tokenIds, seq.greedy_new_ids);
    const pre = new AbortController();
    pre.abort();
    const out = await model.generate('x y z', { maxNewTokens: 5, signal: pre.signal });
    assert.equal(out.finishReason, 'abort');
    assert.equal(out.tokenIds.length, 0);
  });

  it('breaking out of a stream ends the request and frees its blocks', async () => {
    let n = 0;
    for await (const _c of model.stream('Keep going', { maxNewTokens: 200, temperature: 0, ignoreEos: true })) {
      if (++n === 3) break;
    }
    for (let i = 0; i < 50 && model.stats().running > 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(model.stats().running, 0, 'the abandoned request is still running');
    assert.equal(model.stats().kv.usedBlocks, 0);
  });

  it('an aborted embedding request rejects with ERR_GPTNEO_ABORTED', async () => {
    const c = new AbortController();
    c.abort();
    await assertRejectsWith(model.embed(['a b c', 'd e f'], { signal: c.signal }), 'ERR_GPTNEO_ABORTED', /aborted/);
    await assertRejectsWith(model.embed('a', { signal: 'x' as never }), 'ERR_GPTNEO_INVALID_ARGUMENT', /AbortSignal/);
  });

  it('a prefix-cache hit computes fewer tokens and gives the same output', async () => {
    const prompt = prompts(1, 100, model.config.vocabSize)[0]!;
    const before1 = model.stats().computedTokens;
    const a = await model.generate(prompt, { maxNewTokens: 4, temperature: 0 });
    const cost1 = model.stats().computedTokens - before1;
    const before2 = model.stats().computedTokens;
    const b = await model.generate(prompt, { maxNewTokens: 4, temperature: 0 });
    const cost2 = model.stats().computedTokens - before2;
    assert.deepEqual(b.tokenIds, a.tokenIds);
    assert.equal(a.usage.cachedPromptTokens, 0);
    assert.equal(b.usage.cachedPromptTokens, 96);
    assert.equal(cost2, cost1 - 96);
    assert.ok(model.stats().kv.prefixHits >= 1);
  });

  it('an unexpected engine failure rejects the requests in flight (no unhandled rejection) and the model recovers', async () => {
    const kv = (model as unknown as { engine: { kv: { appendTokens: (...a: unknown[]) => void } } }).engine.kv;
    const original = kv.appendTokens;
    kv.appendTokens = () => { throw new Error('simulated engine bug'); };
    try {
      await assertRejectsWith(model.generate([1, 2, 3], { maxNewTokens: 4, temperature: 0 }), 'ERR_GPTNEO_INTERNAL',
        /simulated engine bug/);
    } finally {
      kv.appendTokens = original;
    }
    const out = await model.generate(fx.json.sequences[0]!.input_ids, { maxNewTokens: 24, temperature: 0 });
    assert.deepEqual(out.tokenIds, fx.json.sequences[0]!.greedy_new_ids);
  });

  it('invalid options throw and leave the model usable', async () => {
    await assertRejectsWith(model.generate([1, 2], { topP: 2 }), 'ERR_GPTNEO_INVALID_ARGUMENT', /topP/);
    await assertRejectsWith(model.generate([1, 2], { stop: [''] }), 'ERR_GPTNEO_INVALID_ARGUMENT', /stop/);
    await assertRejectsWith(model.generate([1, 2], { logitBias: { 99999: 1 } }), 'ERR_GPTNEO_INVALID_ARGUMENT', /logitBias/);
    await assertRejectsWith(model.generate([1, 2], { truncate: 'right' as never }), 'ERR_GPTNEO_INVALID_ARGUMENT', /truncate/);
    const out = await model.generate(fx.json.sequences[0]!.input_ids, { maxNewTokens: 24, temperature: 0 });
    assert.deepEqual(out.tokenIds, fx.json.sequences[0]!.greedy_new_ids);
  });
});

describe('67 engine under memory pressure (small KV pool)', () => {
  it('a full pool makes requests wait or be preempted, never fail; results are unchanged', async () => {
    const fx = await loadFixtureCase('tiny-neo-gpt2vocab');
    // 256 positions is the context; a pool of 272 tokens holds about one long sequence at a time.
    await using model = await loadModel(fx.dir, { device: 'cpu', threads: 2, kvCacheTokens: 256, kvBlockSize: 16, prefixCaching: false });
    const ps = prompts(6, 60, model.config.vocabSize);
    const sequential: GenerationResult[] = [];
    for (const p of ps) sequential.push(await model.generate(p, { maxNewTokens: 40, temperature: 0 }));
    const concurrent = await Promise.all(ps.map((p) => model.generate(p, { maxNewTokens: 40, temperature: 0 })));
    concurrent.forEach((c, i) => assert.deepEqual(c.tokenIds, sequential[i]!.tokenIds, `request ${i}`));
    assert.ok(model.stats().preemptions > 0, 'the pool was meant to run out');
    assert.equal(model.stats().kv.usedBlocks, 0);
  });
});

describe('67 engine: local-attention layers in their own, smaller KV pool', () => {
  it('gives the same results as one shared pool while holding only the window', async () => {
    const fx = await loadFixtureCase('tiny-neo');  // window 8, local layers 1 and 3
    const opts = { device: 'cpu' as const, threads: 2, kvBlockSize: 4, kvCacheTokens: 1024 };
    await using shared = await loadModel(fx.dir, { ...opts, localKvCacheTokens: 0 });
    await using split = await loadModel(fx.dir, { ...opts, localKvCacheTokens: 128 });
    assert.equal(shared.info().localKvBlocks, 0);
    assert.equal(split.info().localKvBlocks, 33);
    // Half the layers keep 33 blocks instead of 257: KV bytes shrink accordingly.
    assert.ok(split.info().kvBytes < 0.6 * shared.info().kvBytes, `${split.info().kvBytes} vs ${shared.info().kvBytes}`);
    // Concurrent sequences longer than the window, whose local blocks slide out as they grow.
    const outs = await Promise.all(fx.json.sequences.map((s) => split.generate(s.input_ids, { maxNewTokens: 24, temperature: 0 })));
    outs.forEach((o, i) => assert.deepEqual(o.tokenIds, fx.json.sequences[i]!.greedy_new_ids, `sequence ${i}`));
    for (const s of fx.json.sequences) {
      assert.ok(maxAbsDiff(await split.forward(s.input_ids), await shared.forward(s.input_ids)) === 0);
    }
    assert.equal(split.stats().kv.usedBlocks, 0);
  });

  it('rejects a local pool smaller than one context', async () => {
    const fx = await loadFixtureCase('tiny-neo');
    await assertRejectsWith(loadModel(fx.dir, { localKvCacheTokens: 64 }), 'ERR_GPTNEO_INVALID_ARGUMENT', /localKvCacheTokens/);
  });
});
