// model.embed(): pooled, normalised final hidden states, computed natively and packed across
// texts. Checked against the fixtures' last_hidden_state (which is ln_f of the last block).
import { strict as assert } from 'node:assert';
import { loadModel, type GptNeoModel } from '../lib/index.js';
import { loadFixtureCase, maxAbsDiff, type FixtureCase } from './helpers/fixture-data.js';
import { assertRejectsWith } from './helpers/checkpoints.js';

function pool(hidden: Float32Array, len: number, dim: number, mode: 'mean' | 'first' | 'last', normalize: boolean): Float32Array {
  const out = new Float32Array(dim);
  if (mode === 'mean') {
    const acc = new Float64Array(dim);
    for (let r = 0; r < len; r++) for (let c = 0; c < dim; c++) acc[c] = acc[c]! + hidden[r * dim + c]!;
    for (let c = 0; c < dim; c++) out[c] = acc[c]! / len;
  } else {
    out.set(hidden.subarray((mode === 'first' ? 0 : len - 1) * dim, (mode === 'first' ? 1 : len) * dim));
  }
  if (normalize) {
    const n = Math.hypot(...out);
    for (let c = 0; c < dim; c++) out[c] = out[c]! / n;
  }
  return out;
}

describe('66 embeddings (tiny-neo-gpt2vocab, cpu)', () => {
  let fx: FixtureCase;
  let model: GptNeoModel;
  before(async () => {
    fx = await loadFixtureCase('tiny-neo-gpt2vocab');
    model = await loadModel(fx.dir, { device: 'cpu', threads: 2, maxBatchTokens: 40 });
  });
  after(() => model?.dispose());

  for (const pooling of ['mean', 'first', 'last'] as const) {
    for (const normalize of [true, false]) {
      it(`${pooling} pooling${normalize ? ', normalised' : ''} equals pooling Hugging Face's last_hidden_state`, async () => {
        const texts = fx.json.sequences.map((s) => s.prompt_text!);
        const vectors = await model.embed(texts, { pooling, normalize });
        assert.equal(vectors.length, texts.length);
        for (const seq of fx.json.sequences) {
          const ref = pool(await fx.tensor(`last_hidden_state_${seq.index}`) as Float32Array, seq.length, 32, pooling, normalize);
          const diff = maxAbsDiff(vectors[seq.index]!, ref);
          assert.ok(diff <= 1e-4, `text ${seq.index}: ${diff}`);
        }
      });
    }
  }

  it('the same text gives the same vector alone or inside any batch (within 1e-5)', async () => {
    const texts = ['Hello there', 'The quick brown fox jumps over the lazy dog.', 'a', 'Once upon a time, in a small village by the sea'];
    const alone = await Promise.all(texts.map((t) => model.embed(t)));
    const together = await model.embed(texts);
    const shuffled = await model.embed([texts[3]!, texts[0]!, texts[2]!, texts[1]!, texts[0]!]);
    texts.forEach((_, i) => assert.ok(maxAbsDiff(alone[i]![0]!, together[i]!) <= 1e-5, `text ${i}`));
    assert.ok(maxAbsDiff(shuffled[1]!, together[0]!) <= 1e-5);
    assert.ok(maxAbsDiff(shuffled[4]!, together[0]!) <= 1e-5);
    assert.ok(maxAbsDiff(shuffled[0]!, together[3]!) <= 1e-5);
  });

  it('embeddings and generation interleave on one model', async () => {
    const [gen, emb] = await Promise.all([
      model.generate(fx.json.sequences[0]!.input_ids, { maxNewTokens: 24, temperature: 0 }),
      model.embed(Array.from({ length: 12 }, (_, i) => `text number ${i} with some words`)),
    ]);
    assert.deepEqual(gen.tokenIds, fx.json.sequences[0]!.greedy_new_ids);
    assert.equal(emb.length, 12);
    assert.equal(model.stats().kv.usedBlocks, 0);
  });

  it('bad input and options are typed errors', async () => {
    await assertRejectsWith(model.embed([]), 'ERR_GPTNEO_INVALID_ARGUMENT', /non-empty array/);
    await assertRejectsWith(model.embed([1 as never]), 'ERR_GPTNEO_INVALID_ARGUMENT', /input\[0\]/);
    await assertRejectsWith(model.embed([[1, 99999]]), 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE', /99999/);
    // Token ids embed exactly like the text they encode.
    const [fromIds] = await model.embed([model.tokenizer!.encode('Hello there')]);
    const [fromText] = await model.embed('Hello there');
    assert.ok(maxAbsDiff(fromIds!, fromText!) === 0);
    await assertRejectsWith(model.embed('x', { pooling: 'max' as never }), 'ERR_GPTNEO_INVALID_ARGUMENT', /pooling/);
    await assertRejectsWith(model.embed(''), 'ERR_GPTNEO_INVALID_ARGUMENT', /non-empty prompt/);
    const long = 'word '.repeat(300);
    await assertRejectsWith(model.embed(long), 'ERR_GPTNEO_CONTEXT_OVERFLOW', /context size of 256/);
    const [v] = await model.embed(long, { truncate: true });
    assert.equal(v!.length, 32);
  });
});
