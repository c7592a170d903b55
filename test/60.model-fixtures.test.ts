// The CPU forward pass against Hugging Face transformers' fp32 outputs (../shared/fixtures):
// logits and ln_f hidden states within 1e-4, every position's top-10, greedy continuations exact.
import { strict as assert } from 'node:assert';
import { loadModel, type GptNeoModel } from '../lib/index.js';
import { loadFixtureCase, maxAbsDiff, type FixtureCase } from './helpers/fixture-data.js';

const TOL = 1e-4;

for (const name of ['tiny-neo', 'tiny-neo-gpt2vocab'] as const) {
  describe(`model vs Hugging Face: ${name} (cpu, float32)`, () => {
    let fx: FixtureCase;
    let model: GptNeoModel;

    before(async () => {
      fx = await loadFixtureCase(name);
      model = await loadModel(fx.dir, { device: 'cpu', dtype: 'float32', threads: 2 });
    });
    after(async () => model?.dispose());

    it('logits match at every stored position of every sequence', async () => {
      const V = model.config.vocabSize;
      for (const seq of fx.json.sequences) {
        const ours = await model.forward(seq.input_ids, { output: 'logits' });
        assert.equal(ours.length, seq.length * V);
        const ref = await fx.tensor(`logits_${seq.index}`) as Float32Array;
        seq.logit_positions.forEach((pos, p) => {
          const diff = maxAbsDiff(ours.subarray(pos * V, (pos + 1) * V), ref.subarray(p * V, (p + 1) * V));
          assert.ok(diff <= TOL, `sequence ${seq.index} position ${pos}: max |diff| ${diff}`);
        });
      }
    });

    it('final hidden states (after ln_f) match at every position', async () => {
      for (const seq of fx.json.sequences) {
        const ours = await model.forward(seq.input_ids, { output: 'hidden' });
        const ref = await fx.tensor(`last_hidden_state_${seq.index}`) as Float32Array;
        const diff = maxAbsDiff(ours, ref);
        assert.ok(diff <= TOL, `sequence ${seq.index}: max |diff| ${diff}`);
      }
    });

    it('top-10 logits at every position match', async () => {
      const V = model.config.vocabSize;
      for (const seq of fx.json.sequences) {
        const ours = await model.forward(seq.input_ids);
        const ids = await fx.tensor(`topk_ids_${seq.index}`) as Int32Array;
        const vals = await fx.tensor(`topk_logits_${seq.index}`) as Float32Array;
        for (let pos = 0; pos < seq.length; pos++) {
          const row = ours.subarray(pos * V, (pos + 1) * V);
          for (let j = 0; j < 10; j++) {
            const id = ids[pos * 10 + j]!;
            assert.ok(Math.abs(row[id]! - vals[pos * 10 + j]!) <= TOL, `seq ${seq.index} pos ${pos} rank ${j}`);
          }
          // Our argmax is HF's top-1 (the fixtures have no exact ties at the top).
          let best = 0;
          for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
          assert.equal(best, ids[pos * 10]!, `seq ${seq.index} pos ${pos} argmax`);
        }
      }
    });

    it('greedy continuations equal transformers generate()', async () => {
      for (const seq of fx.json.sequences) {
        const out = await model.generate(seq.input_ids, { maxNewTokens: 24, temperature: 0 });
        assert.deepEqual(out.tokenIds, seq.greedy_new_ids, `sequence ${seq.index}`);
        assert.equal(out.finishReason, 'length');
        assert.deepEqual(out.usage, { promptTokens: seq.length, completionTokens: 24, totalTokens: seq.length + 24,
          cachedPromptTokens: out.usage.cachedPromptTokens });
      }
    });

    it('greedy with the sampling path (temperature 0 via logits) equals the native argmax path', async () => {
      const seq = fx.json.sequences[0]!;
      // A repetition penalty of exactly 1 is "off" but forces the JS sampler over full logits rows.
      const viaLogits = await model.generate(seq.input_ids, { maxNewTokens: 24, temperature: 0, topK: 1, repetitionPenalty: 1 });
      assert.deepEqual(viaLogits.tokenIds, seq.greedy_new_ids);
    });
  });
}

describe('model vs Hugging Face: text in, text out (tiny-neo-gpt2vocab)', () => {
  it('generate() on prompt text reproduces greedy_new_text', async () => {
    const fx = await loadFixtureCase('tiny-neo-gpt2vocab');
    await using model = await loadModel(fx.dir, { device: 'cpu', threads: 2 });
    assert.ok(model.tokenizer, 'the fixture directory has vocab.json + merges.txt');
    for (const seq of fx.json.sequences) {
      assert.deepEqual(model.tokenizer!.encode(seq.prompt_text!), seq.input_ids);
      const out = await model.generate(seq.prompt_text!, { maxNewTokens: 24, temperature: 0 });
      assert.deepEqual(out.tokenIds, seq.greedy_new_ids);
      assert.equal(out.text, seq.greedy_new_text);
    }
  });
});
