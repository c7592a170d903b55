// Every CPU SIMD path this machine has (portable, avx2, avx512, avx512bf16, amx) computes the same
// model: each matches the Hugging Face logits within 1e-4, and greedy output is identical.
import { strict as assert } from 'node:assert';
import { devices, loadModel } from '../lib/index.js';
import { loadFixtureCase, maxAbsDiff } from './helpers/fixture-data.js';

const ORDER = ['portable', 'avx2', 'avx512', 'avx512bf16', 'amx'] as const;

describe('63 SIMD paths agree (tiny-neo-gpt2vocab, float32)', () => {
  const detected = (devices()[0] as { simdDetected: string }).simdDetected;
  const available = ORDER.slice(0, ORDER.indexOf(detected as (typeof ORDER)[number]) + 1);

  it(`this CPU offers ${available.join(', ')}`, () => {
    assert.ok(available.length >= 1);
  });

  for (const simd of available) {
    it(`${simd}: logits within 1e-4 of Hugging Face, greedy identical`, async () => {
      const fx = await loadFixtureCase('tiny-neo-gpt2vocab');
      await using model = await loadModel(fx.dir, { device: 'cpu', dtype: 'float32', simd, threads: 2 });
      assert.match(model.backend, new RegExp(`cpu/${simd}$`));
      const V = model.config.vocabSize;
      for (const seq of fx.json.sequences) {
        const ours = await model.forward(seq.input_ids);
        const ref = await fx.tensor(`logits_${seq.index}`) as Float32Array;
        seq.logit_positions.forEach((pos, p) => {
          const diff = maxAbsDiff(ours.subarray(pos * V, (pos + 1) * V), ref.subarray(p * V, (p + 1) * V));
          assert.ok(diff <= 1e-4, `${simd} seq ${seq.index} pos ${pos}: ${diff}`);
        });
        const out = await model.generate(seq.input_ids, { maxNewTokens: 24, temperature: 0 });
        assert.deepEqual(out.tokenIds, seq.greedy_new_ids);
      }
    });
  }
});
