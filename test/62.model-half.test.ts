// bfloat16 / float16 weights: the error against Hugging Face's fp32 logits is at most twice the
// error of a naive same-precision model (an independent float64 forward over the same rounded
// weights), and the fp32 reference itself reproduces the fixtures (which validates the baseline).
import { strict as assert } from 'node:assert';
import { devices, loadModel } from '../lib/index.js';
import type { LoadModelOptions } from '../lib/index.js';
import { loadFixtureCase, maxAbsDiff } from './helpers/fixture-data.js';
import { loadReferenceModel, roundBf16, roundF16 } from './helpers/reference-forward.js';

// The best CPU path, and on AMX machines also the AVX-512 path (bf16 weights, f32 activations).
const detected = (devices()[0] as { simdDetected: string }).simdDetected;
const paths: Array<LoadModelOptions['simd']> = detected === 'amx' ? ['amx', 'avx512bf16'] : [undefined];

describe('half-width weights vs a naive same-precision model (tiny-neo, cpu)', function () {
  it('the float64 reference forward reproduces the fp32 fixtures (validates the baseline)', async () => {
    const fx = await loadFixtureCase('tiny-neo');
    const ref = await loadReferenceModel(fx.dir);
    const seq = fx.json.sequences[1]!;
    const hf = await fx.tensor(`logits_${seq.index}`) as Float32Array;
    const ours = ref.forward(seq.input_ids).logits;
    const flat = Float64Array.from(ours.flatMap((r) => [...r]));
    assert.ok(maxAbsDiff(flat, hf) <= 1e-4);
  });

  for (const [dtype, round] of [['bfloat16', roundBf16], ['float16', roundF16]] as const) {
    for (const simd of paths) {
      it(`${dtype}${simd ? ` (${simd})` : ''}: max logit error <= 2x the naive ${dtype} model's`, async () => {
        const fx = await loadFixtureCase('tiny-neo');
        await using model = await loadModel(fx.dir, { device: 'cpu', dtype, threads: 2, simd });
        assert.equal(model.dtype, dtype);
        // On AMX the bf16 products of 16+ rows (every sequence here) take bf16 inputs: the
        // same-precision naive model then rounds the activations entering each projection too.
        const roundsInputs = dtype === 'bfloat16' && model.backend.endsWith('/amx');
        const naive = await loadReferenceModel(fx.dir, round, roundsInputs);
        for (const seq of fx.json.sequences.slice(0, 2)) {
          assert.ok(!roundsInputs || seq.input_ids.length >= 16);
          const hf = await fx.tensor(`logits_${seq.index}`) as Float32Array;
          const naiveLogits = Float64Array.from(naive.forward(seq.input_ids).logits.flatMap((r) => [...r]));
          const ours = await model.forward(seq.input_ids);
          const naiveErr = maxAbsDiff(naiveLogits, hf);
          const ourErr = maxAbsDiff(ours, hf);
          assert.ok(naiveErr > 1e-4, `rounding to ${dtype} should move the logits (naive error ${naiveErr})`);
          assert.ok(ourErr <= 2 * naiveErr, `sequence ${seq.index}: ours ${ourErr} vs naive ${naiveErr}`);
        }
      });
    }
  }
});
