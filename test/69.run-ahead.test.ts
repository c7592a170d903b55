// Run-ahead (LoadModelOptions.runAhead): the engine lets the native side take several decode steps
// per call when every running request's tokens are chosen natively (greedy argmax, or the in-step
// sampler with pre-drawn uniforms). Outputs must equal one step per call (runAhead: 1) in every
// situation the engine meets: the fixtures' continuations, concurrent requests of different lengths,
// stop ids and stop strings inside a burst, the context limit, local-attention windows sliding inside
// a burst, preemption, requests joining mid-generation, seeded sampling with penalties and logit bias,
// and aborts (the stream ends at once: chunks of a burst not yet read are dropped, and usage counts
// what was delivered).
import { strict as assert } from 'node:assert';
import { onAbort } from '../lib/engine/abort-subscriptions.js';
import { RunAheadPolicy } from '../lib/engine/run-ahead.js';
import { setStepSampler } from '../lib/sampling/native-rows.js';
import { loadModel, type GenerateOptions, type GenerationChunk, type GenerationResult, type GptNeoModel } from '../lib/index.js';
import { assertRejectsWith } from './helpers/checkpoints.js';
import { withEnv } from './helpers/env.js';
import { loadFixtureCase, type FixtureCase } from './helpers/fixture-data.js';

function prompts(n: number, len: number, vocab: number, seed = 777): number[][] {
  let s = seed;
  return Array.from({ length: n }, () => Array.from({ length: len }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % vocab;
  }));
}

describe('69 abort subscriptions', () => {
  it('one listener per signal however many requests share it; each callback once; unsubscribed ones never', () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => { warnings.push(w.name); };
    process.on('warning', onWarning);
    try {
      const c = new AbortController();
      const calls = new Array<number>(30).fill(0);
      const unsubscribe = calls.map((_, i) => onAbort(c.signal, () => { calls[i]!++; }));
      for (let i = 0; i < 10; i++) unsubscribe[i]!();
      c.abort();
      c.signal.dispatchEvent(new Event('abort'));  // a second event reaches nobody
      assert.deepEqual(calls, [...new Array(10).fill(0), ...new Array(20).fill(1)]);
      // Everyone left: the listener is gone, an abort calls nothing.
      const d = new AbortController();
      const undo = [onAbort(d.signal, () => assert.fail('called after unsubscribing')), onAbort(d.signal, () => assert.fail('x'))];
      undo.forEach((u) => { u(); u(); });
      d.abort();
      // An already aborted signal: never called.
      onAbort(c.signal, () => assert.fail('called for an aborted signal'))();
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, []);
  });
});

describe('69 run-ahead policy', () => {
  it('one step until a step has been timed; then as many as fit the budget, the cap and the tokens left', () => {
    const p = new RunAheadPolicy(16, 20);
    assert.equal(p.choose(100), 1);
    p.observe(1, 1);  // 1 ms per step: 20 fit, the cap is 16
    assert.equal(p.choose(100), 16);
    assert.equal(p.choose(5), 5);
    assert.equal(p.choose(1), 1);
    p.observe(30, 1);  // smoothed to 15.5 ms per step: one step per call
    assert.equal(p.choose(100), 1);
    p.observe(16, 4);  // 4 ms per step: 9.75 ms smoothed, 2 fit
    assert.equal(p.choose(100), 2);
    const off = new RunAheadPolicy(1, 20);
    off.observe(0.01, 1);
    assert.equal(off.choose(100), 1);
  });
});

for (const name of ['tiny-neo', 'tiny-neo-gpt2vocab'] as const) {
  describe(`69 run-ahead (${name}, cpu)`, () => {
    let fx: FixtureCase;
    let ahead: GptNeoModel;
    let single: GptNeoModel;
    before(async () => {
      fx = await loadFixtureCase(name);
      ahead = await loadModel(fx.dir, { device: 'cpu', threads: 2, maxBatchTokens: 64 });
      single = await loadModel(fx.dir, { device: 'cpu', threads: 2, maxBatchTokens: 64, runAhead: 1 });
    });
    afterEach(() => {
      assert.equal(ahead.stats().kv.usedBlocks, 0, 'a request leaked KV blocks');
      assert.equal(single.stats().kv.usedBlocks, 0, 'a request leaked KV blocks');
    });
    after(() => {
      ahead?.dispose();
      single?.dispose();
    });

    const both = async (prompt: number[] | string, options: GenerateOptions) =>
      Promise.all([ahead.generate(prompt, options), single.generate(prompt, options)]);

    it("gives the fixtures' greedy continuations with several steps per call", async () => {
      const before = ahead.stats().runAhead;
      for (const seq of fx.json.sequences) {
        const out = await ahead.generate(seq.input_ids, { maxNewTokens: seq.greedy_new_ids.length, temperature: 0 });
        assert.deepEqual(out.tokenIds, seq.greedy_new_ids, `sequence ${seq.index}`);
        assert.equal(out.usage.completionTokens, seq.greedy_new_ids.length);
      }
      const after = ahead.stats().runAhead;
      assert.ok(after.calls > before.calls && after.steps - before.steps > 2 * (after.calls - before.calls),
        `run-ahead was not used: ${JSON.stringify({ before, after })}`);
      assert.deepEqual(single.stats().runAhead, { calls: 0, steps: 0 });
    });

    it('concurrent requests of different lengths, stop ids and stop strings inside a burst', async () => {
      const ps = prompts(6, 30, ahead.config.vocabSize).map((p, i) => p.slice(0, 4 + 4 * i));
      const reference = await Promise.all(ps.map((p, i) => single.generate(p, { maxNewTokens: 3 + 7 * i, temperature: 0 })));
      const got = await Promise.all(ps.map((p, i) => ahead.generate(p, { maxNewTokens: 3 + 7 * i, temperature: 0 })));
      got.forEach((g, i) => {
        assert.deepEqual(g.tokenIds, reference[i]!.tokenIds, `request ${i}`);
        assert.deepEqual(g.usage, reference[i]!.usage, `request ${i}`);
        assert.equal(g.finishReason, 'length');
      });
      // A stop id that first appears mid-continuation: the request ends there, its neighbours go on.
      const long = reference[5]!.tokenIds;
      const stopAt = long.findIndex((t, i) => i >= 9 && long.indexOf(t) === i);
      assert.ok(stopAt >= 9, 'no stop id candidate');
      const [a, b] = await both(ps[5]!, { maxNewTokens: 38, temperature: 0, stopTokenIds: [long[stopAt]!] });
      assert.deepEqual(a.tokenIds, long.slice(0, stopAt + 1));
      assert.deepEqual(a, b);
      if (ahead.tokenizer) {
        const text = reference[5]!.text;
        const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
        const [c, d] = await both(ps[5]!, { maxNewTokens: 38, temperature: 0, stop: [stop] });
        assert.equal(c.finishReason, 'stop');
        assert.deepEqual(c, d);
      }
    });

    it('runs to the context limit, its local windows sliding inside bursts', async () => {
      const limit = ahead.contextSize;
      const p = prompts(1, limit - 45, ahead.config.vocabSize, 99)[0]!;
      const [a, b] = await both(p, { maxNewTokens: 45, temperature: 0, ignoreEos: true });
      assert.equal(a.finishReason, 'length');
      assert.equal(a.tokenIds.length, 45);
      assert.deepEqual(a, b);
    });

    it('a request that arrives mid-generation joins at the next call; both match their solo runs', async () => {
      const [p1, p2] = prompts(2, 12, ahead.config.vocabSize, 5);
      const solo1 = await single.generate(p1!, { maxNewTokens: 40, temperature: 0, ignoreEos: true });
      const solo2 = await single.generate(p2!, { maxNewTokens: 20, temperature: 0, ignoreEos: true });
      let second: Promise<unknown> | undefined;
      const ids: number[] = [];
      for await (const c of ahead.stream(p1!, { maxNewTokens: 40, temperature: 0, ignoreEos: true })) {
        if (c.tokenId >= 0) ids.push(c.tokenId);
        if (ids.length === 10) second = ahead.generate(p2!, { maxNewTokens: 20, temperature: 0, ignoreEos: true });
      }
      assert.deepEqual(ids, solo1.tokenIds);
      assert.deepEqual((await second as { tokenIds: number[] }).tokenIds, solo2.tokenIds);
    });

    it('seeded sampling with penalties and a logit bias runs ahead and equals one step per call', async () => {
      const ps = prompts(4, 12, ahead.config.vocabSize, 21);
      const options: GenerateOptions[] = [
        { maxNewTokens: 40, temperature: 0.9, topP: 0.9, seed: 1, ignoreEos: true },
        { maxNewTokens: 33, temperature: 1.1, topK: 20, repetitionPenalty: 1.3, seed: 2, ignoreEos: true },
        { maxNewTokens: 37, temperature: 0.7, presencePenalty: 0.6, frequencyPenalty: 0.4, minP: 0.02, seed: 3,
          logitBias: { 5: 3, 7: -100 }, ignoreEos: true },
        { maxNewTokens: 29, temperature: 0, repetitionPenalty: 1.5, frequencyPenalty: 1, ignoreEos: true },
      ];
      const before = ahead.stats().runAhead;
      const reference = await Promise.all(ps.map((p, i) => single.generate(p, options[i])));
      const got = await Promise.all(ps.map((p, i) => ahead.generate(p, options[i])));
      got.forEach((g, i) => assert.deepEqual(g.tokenIds, reference[i]!.tokenIds, `request ${i}`));
      const after = ahead.stats().runAhead;
      assert.ok(after.calls > before.calls && after.steps - before.steps > 2 * (after.calls - before.calls),
        `sampled requests did not run ahead: ${JSON.stringify({ before, after })}`);
      // The penalties did act (the greedy one with penalties differs from plain greedy).
      const plain = await single.generate(ps[3]!, { maxNewTokens: 29, temperature: 0, ignoreEos: true });
      assert.notDeepEqual(reference[3]!.tokenIds, plain.tokenIds);
    });

    it('the same sampled run-ahead with the sampling prefilter forced on (the GPU path) chooses the same tokens', async () => {
      const ps = prompts(3, 10, ahead.config.vocabSize, 33);
      const options: GenerateOptions[] = [
        { maxNewTokens: 30, temperature: 1.1, topK: 20, repetitionPenalty: 1.3, seed: 5, ignoreEos: true },
        { maxNewTokens: 26, temperature: 0, repetitionPenalty: 1.5, frequencyPenalty: 1, logitBias: { 5: 3 }, ignoreEos: true },
        { maxNewTokens: 28, temperature: 0.8, topP: 0.9, seed: 6, ignoreEos: true },
      ];
      const reference = await Promise.all(ps.map((p, i) => single.generate(p, options[i])));
      await withEnv({ GPTNEO_SAMPLING_PREFILTER: '1' }, async () => {
        const before = { runAhead: ahead.stats().runAhead, prefilter: ahead.info().samplingPrefilter! };
        const got = await Promise.all(ps.map((p, i) => ahead.generate(p, options[i])));
        got.forEach((g, i) => assert.deepEqual(g.tokenIds, reference[i]!.tokenIds, `request ${i}`));
        const runAhead = ahead.stats().runAhead, prefilter = ahead.info().samplingPrefilter!;
        assert.ok(runAhead.steps - before.runAhead.steps > 2 * (runAhead.calls - before.runAhead.calls),
          `no run-ahead: ${JSON.stringify({ before, runAhead })}`);
        assert.ok(prefilter.candidateRows - before.prefilter.candidateRows >= 50, JSON.stringify({ before, prefilter }));
        assert.ok(prefilter.fullRows - before.prefilter.fullRows >= 20, JSON.stringify({ before, prefilter }));
      });
    });

    it('rows sampled in TypeScript take one step per call', async () => {
      const previous = setStepSampler('typescript');
      try {
        const before = ahead.stats().runAhead;
        const a = await ahead.generate([1, 2, 3], { maxNewTokens: 12, temperature: 0.8, seed: 1 });
        assert.deepEqual(ahead.stats().runAhead, before);
        setStepSampler('native');
        const b = await ahead.generate([1, 2, 3], { maxNewTokens: 12, temperature: 0.8, seed: 1 });
        assert.deepEqual(a.tokenIds, b.tokenIds);
      } finally {
        setStepSampler(previous);
      }
    });

    it('an abort ends the stream at once: unread chunks of the burst are dropped, usage counts what was read', async () => {
      // Warm the policy so that the stream's decode steps come in bursts.
      await ahead.generate([4, 5, 6], { maxNewTokens: 8, temperature: 0 });
      const before = ahead.stats().runAhead.calls;
      const story = [7, 8, 9, 10, 11];
      const controller = new AbortController();
      const chunks: GenerationChunk[] = [];
      for await (const c of ahead.stream(story, { maxNewTokens: 60, temperature: 0, ignoreEos: true, signal: controller.signal })) {
        chunks.push(c);
        if (chunks.length === 4) controller.abort();
      }
      assert.ok(ahead.stats().runAhead.calls > before, 'the stream did not run ahead');
      assert.equal(chunks.length, 5, 'the final chunk did not follow the abort');
      const last = chunks[4]!;
      assert.equal(last.finishReason, 'abort');
      assert.equal(last.tokenId, -1);
      assert.equal(last.usage!.completionTokens, 4);
      // generate() with an abort from outside: its token ids are the ones its chunks delivered.
      const c2 = new AbortController();
      const pending = ahead.generate(story, { maxNewTokens: 60, temperature: 0, ignoreEos: true, signal: c2.signal });
      setImmediate(() => c2.abort());
      const out = await pending;
      assert.equal(out.finishReason, 'abort');
      assert.equal(out.tokenIds.length, out.usage.completionTokens);
      const full = await single.generate(story, { maxNewTokens: 60, temperature: 0, ignoreEos: true });
      assert.deepEqual(out.tokenIds, full.tokenIds.slice(0, out.tokenIds.length));
    });

    it('one signal shared by 24 requests aborts them all, with no listener-leak warning', async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error): void => { warnings.push(`${w.name}: ${w.message}`); };
      process.on('warning', onWarning);
      try {
        const controller = new AbortController();
        const ps = prompts(24, 6, ahead.config.vocabSize, 3);
        const runs = ps.map((p) => ahead.generate(p, { maxNewTokens: 100, temperature: 0, ignoreEos: true,
          signal: controller.signal }));
        setImmediate(() => controller.abort());
        const outs = await Promise.all(runs);
        outs.forEach((o, i) => {
          assert.equal(o.finishReason, 'abort', `request ${i}`);
          assert.equal(o.tokenIds.length, o.usage.completionTokens);
        });
        await new Promise((r) => setImmediate(r));
      } finally {
        process.off('warning', onWarning);
      }
      assert.deepEqual(warnings, []);
    });
  });
}

describe('69 run-ahead under KV pressure (tiny-neo, cpu)', () => {
  it('preempted and recomputed sequences still match; bursts fall back to one step when the pool is short', async () => {
    const fx = await loadFixtureCase('tiny-neo');
    const opts = { device: 'cpu' as const, threads: 2, maxBatchTokens: 64, kvBlockSize: 4, contextSize: 96, kvCacheTokens: 120 };
    const ahead = await loadModel(fx.dir, opts);
    const single = await loadModel(fx.dir, { ...opts, runAhead: 1 });
    try {
      const ps = prompts(4, 30, ahead.config.vocabSize, 31);
      const gen = { maxNewTokens: 30, temperature: 0, ignoreEos: true };
      const reference: GenerationResult[] = [];
      for (const p of ps) reference.push(await single.generate(p, gen));
      const got = await Promise.all(ps.map((p) => ahead.generate(p, gen)));
      got.forEach((g, i) => assert.deepEqual(g.tokenIds, reference[i]!.tokenIds, `request ${i}`));
      assert.ok(ahead.stats().preemptions > 0, 'the pool never ran short');
      assert.ok(ahead.stats().runAhead.calls > 0, 'run-ahead never ran');
      assert.equal(ahead.stats().kv.usedBlocks, 0);
    } finally {
      ahead.dispose();
      single.dispose();
    }
  });

  it('runAhead must be an integer in [1, 256]', async () => {
    const fx = await loadFixtureCase('tiny-neo');
    for (const bad of [0, 257, 2.5, '4', null]) {
      await assertRejectsWith(loadModel(fx.dir, { device: 'cpu', runAhead: bad as never }), 'ERR_GPTNEO_INVALID_ARGUMENT',
        /runAhead/);
    }
  });
});
