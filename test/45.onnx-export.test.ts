// The ONNX export of a GPT-Neo checkpoint (the benchmark's onnxruntime peer) against Hugging Face's
// fp32 outputs for tiny-neo: full-forward logits and ln_f hidden states, cached one-token decode,
// a chunked prefill on top of a cache, and a batch of two sequences, all within 1e-4.
import { strict as assert } from 'node:assert';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attentionBias, exportGptNeoOnnx, MASKED } from '../lib/bench/peers/gpt-neo-onnx.js';
import { encodeVarint, ProtoMessage } from '../lib/bench/peers/onnx-proto.js';
import { OrtGptNeo, type OnnxRuntime } from '../lib/bench/peers/ort-gpt-neo.js';
import { loadFixtureCase, maxAbsDiff, type FixtureCase } from './helpers/fixture-data.js';
import { onnxRuntimeOrSkip } from './helpers/onnxruntime.js';

const TOL = 1e-4;

describe('onnx protobuf writer', () => {
  it('encodes varints, negative int64 and nested messages as protobuf does', () => {
    assert.deepEqual([...encodeVarint(1n)], [0x01]);
    assert.deepEqual([...encodeVarint(300n)], [0xac, 0x02]);
    // field 3, int -1 → tag 0x18, then ten bytes of two's complement.
    assert.deepEqual([...new ProtoMessage().int(3, -1).toBytes()],
      [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const inner = new ProtoMessage().string(1, 'ab');
    // field 2, length 4: [tag 0x0a, len 2, 'a', 'b'].
    assert.deepEqual([...new ProtoMessage().message(2, inner).toBytes()], [0x12, 0x04, 0x0a, 0x02, 0x61, 0x62]);
    assert.deepEqual([...new ProtoMessage().float(2, 1).toBytes()], [0x15, 0x00, 0x00, 0x80, 0x3f]);
    assert.deepEqual([...new ProtoMessage().packedInts(1, [3, 270]).toBytes()], [0x0a, 0x03, 0x03, 0x8e, 0x02]);
  });

  it('attention bias: causal for global layers, window for local ones', () => {
    // past 2, seq 2, window 2: rows are positions 2 and 3 over keys 0..3.
    const M = MASKED;
    assert.deepEqual([...attentionBias(1, 2, 2, undefined)], [0, 0, 0, M, 0, 0, 0, 0]);
    assert.deepEqual([...attentionBias(2, 2, 2, 2)], [M, 0, 0, M, M, M, 0, 0, M, 0, 0, M, M, M, 0, 0]);
  });
});

describe('ONNX export of GPT-Neo vs Hugging Face: tiny-neo (onnxruntime-node, cpu, float32)', () => {
  let ort: OnnxRuntime;
  let fx: FixtureCase;
  let tmp: string;
  let model: OrtGptNeo;

  before(async function () {
    ort = await onnxRuntimeOrSkip(this);
    fx = await loadFixtureCase('tiny-neo');
    tmp = await mkdtemp(join(tmpdir(), 'gpt-neo-onnx-test-'));
    const exported = await exportGptNeoOnnx(fx.dir, join(tmp, 'model.onnx'));
    assert.equal((await stat(exported.path)).size, exported.bytes);
    model = await OrtGptNeo.create(ort, exported.path, exported.config, 2);
  });
  after(async () => {
    await model?.release();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('full-forward logits and last hidden states match every position of every sequence', async () => {
    for (const seq of fx.json.sequences) {
      const out = await model.step([seq.input_ids], model.emptyCache(1), { logits: true, hidden: true });
      assert.equal(fx.json.sequences[0]!.logit_positions.length, fx.json.sequences[0]!.length);  // tiny-neo keeps all
      const logits = maxAbsDiff(out.logits, await fx.tensor(`logits_${seq.index}`));
      assert.ok(logits <= TOL, `sequence ${seq.index}: logits max |diff| ${logits}`);
      const hidden = maxAbsDiff(out.lastHidden, await fx.tensor(`last_hidden_state_${seq.index}`));
      assert.ok(hidden <= TOL, `sequence ${seq.index}: hidden max |diff| ${hidden}`);
      assert.equal(out.cache.length, seq.length);
    }
  });

  it('cached decode, one token per call, matches HF decode_logits (windows slide past the cache start)', async () => {
    const V = model.config.vocabSize;
    for (const seq of fx.json.sequences) {
      const ref = await fx.tensor(`decode_logits_${seq.index}`) as Float32Array;
      let cache = model.emptyCache(1);
      for (let t = 0; t < seq.length; t++) {
        const out = await model.step([[seq.input_ids[t]!]], cache);
        cache = out.cache;
        const diff = maxAbsDiff(out.logits, ref.subarray(t * V, (t + 1) * V));
        assert.ok(diff <= TOL, `sequence ${seq.index} position ${t}: max |diff| ${diff}`);
      }
    }
  });

  it('a chunk of many tokens on top of a cache matches the full forward', async () => {
    const seq = fx.json.sequences[2]!;  // L = 64, window 8
    const V = model.config.vocabSize;
    const ref = await fx.tensor(`logits_${seq.index}`) as Float32Array;
    const first = await model.step([seq.input_ids.slice(0, 20)], model.emptyCache(1));
    const rest = await model.step([seq.input_ids.slice(20)], first.cache);
    assert.ok(maxAbsDiff(first.logits, ref.subarray(0, 20 * V)) <= TOL);
    const diff = maxAbsDiff(rest.logits, ref.subarray(20 * V));
    assert.ok(diff <= TOL, `positions 20..63: max |diff| ${diff}`);
  });

  it('a batch of two sequences gives each its own logits', async () => {
    const [a, b] = [fx.json.sequences[0]!, fx.json.sequences[1]!];  // L = 40 and 17
    const V = model.config.vocabSize;
    const L = b.length;
    const out = await model.step([a.input_ids.slice(0, L), b.input_ids], model.emptyCache(2));
    const refA = (await fx.tensor(`logits_${a.index}`) as Float32Array).subarray(0, L * V);
    const refB = await fx.tensor(`logits_${b.index}`) as Float32Array;
    assert.ok(maxAbsDiff(out.logits.subarray(0, L * V), refA) <= TOL);
    assert.ok(maxAbsDiff(out.logits.subarray(L * V), refB) <= TOL);
    // One more step for both, through the batched cache.
    const next = await model.step([[a.input_ids[L]!], [b.input_ids[0]!]], out.cache);
    const fullA = await fx.tensor(`logits_${a.index}`) as Float32Array;
    assert.ok(maxAbsDiff(next.logits.subarray(0, V), fullA.subarray(L * V, (L + 1) * V)) <= TOL);
  });
});
