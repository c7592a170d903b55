// Bad input never crashes or hangs: every case below ends in a typed GptNeoError with a stable
// code, and the model stays usable afterwards.
import { strict as assert } from 'node:assert';
import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModel, type GptNeoModel } from '../lib/index.js';
import { nativeConfig } from '../lib/model/load.js';
import { loadNative } from '../lib/native/binding.js';
import { packSamplingRows, sampleToken, validateSamplingOptions } from '../lib/sampling/index.js';
import { readConfig, readSafetensorsHeader, resolveGptNeoWeights } from '../lib/model/checkpoint.js';
import {
  assertRejectsWith, copyFixtureModel, fixtureConfigJson, TempDirs, writeConfigJson,
} from './helpers/checkpoints.js';
import { withEnv } from './helpers/env.js';
import { fixture } from './helpers/paths.js';

const tiny = fixture('tiny-neo');

describe('errors: loading bad checkpoints', () => {
  const temp = new TempDirs();
  after(() => temp.cleanup());

  it('a directory that does not exist', async () => {
    await assertRejectsWith(loadModel('/nonexistent/gpt-neo-model'), 'ERR_GPTNEO_FILE_NOT_FOUND', /nonexistent/);
  });

  it('config.json but no model.safetensors', async () => {
    const dir = await temp.make();
    await writeConfigJson(dir, await fixtureConfigJson('tiny-neo'));
    await assertRejectsWith(loadModel(dir), 'ERR_GPTNEO_FILE_NOT_FOUND', /model\.safetensors/);
  });

  it('a truncated model.safetensors', async () => {
    const dir = await temp.make();
    await copyFixtureModel('tiny-neo', dir);
    await truncate(join(dir, 'model.safetensors'), 50_000);
    await assertRejectsWith(loadModel(dir), 'ERR_GPTNEO_BAD_CHECKPOINT', /model\.safetensors/);
  });

  it('a corrupt header (garbage bytes)', async () => {
    const dir = await temp.make();
    await copyFixtureModel('tiny-neo', dir);
    const fh = await open(join(dir, 'model.safetensors'), 'r+');
    await fh.write(Buffer.from('{{{{ not json', 'utf8'), 0, 13, 8);
    await fh.close();
    await assertRejectsWith(loadModel(dir), 'ERR_GPTNEO_BAD_CHECKPOINT', /JSON|header/i);
  });

  it('a config whose shapes disagree with the weights', async () => {
    const dir = await temp.make();
    await copyFixtureModel('tiny-neo', dir);
    await writeConfigJson(dir, { ...(await fixtureConfigJson('tiny-neo')), vocab_size: 600 });
    await assertRejectsWith(loadModel(dir), 'ERR_GPTNEO_BAD_CHECKPOINT', /wte/);
  });

  it('an unknown model_type', async () => {
    const dir = await temp.make();
    await copyFixtureModel('tiny-neo', dir);
    await writeConfigJson(dir, { ...(await fixtureConfigJson('tiny-neo')), model_type: 'gpt2' });
    await assertRejectsWith(loadModel(dir), 'ERR_GPTNEO_UNSUPPORTED_MODEL', /gpt2/);
  });

  it('native code re-checks offsets that lie (a table past the end of the file)', async () => {
    const config = await readConfig(tiny);
    const table = resolveGptNeoWeights(await readSafetensorsHeader(join(tiny, 'model.safetensors')), config);
    const addon = loadNative();
    const native = new addon.NativeModel(nativeConfig(config), { device: 'cpu', threads: 1 });
    const lying = table.tensors.map((t) => (t.name === 'ln_f.bias' ? { ...t, offset: 1e12 } : t));
    await assert.rejects(native.load(join(tiny, 'model.safetensors'), lying, { weightDtype: 'F32', kvBlocks: 8, blockSize: 16 }),
      (e: { code?: string; message?: string }) => e.code === 'ERR_GPTNEO_BAD_CHECKPOINT' && /ln_f\.bias/.test(e.message ?? ''));
    const badShape = table.tensors.map((t) => (t.name === 'wpe.weight' ? { ...t, shape: [1, 1] } : t));
    await assert.rejects(native.load(join(tiny, 'model.safetensors'), badShape, { weightDtype: 'F32', kvBlocks: 8, blockSize: 16 }),
      (e: { code?: string }) => e.code === 'ERR_GPTNEO_BAD_CHECKPOINT');
    native.dispose();
  });
});

describe('errors: bad options and bad input', () => {
  let model: GptNeoModel;
  before(async () => { model = await loadModel(tiny, { device: 'cpu', threads: 2 }); });
  after(() => model?.dispose());

  it('loadModel options are validated', async () => {
    await assertRejectsWith(loadModel(tiny, { device: 'gpu' as never }), 'ERR_GPTNEO_INVALID_ARGUMENT', /device/);
    await assertRejectsWith(loadModel(tiny, { dtype: 'int4' as never }), 'ERR_GPTNEO_INVALID_ARGUMENT', /dtype/);
    await assertRejectsWith(loadModel(tiny, { threads: 0 }), 'ERR_GPTNEO_INVALID_ARGUMENT',
      /Expected positive integer for threads but received 0/);
    await assertRejectsWith(loadModel(tiny, { treads: 2 } as never), 'ERR_GPTNEO_INVALID_ARGUMENT', /treads/);
    await assertRejectsWith(loadModel(tiny, { kvCacheTokens: 16 }), 'ERR_GPTNEO_INVALID_ARGUMENT', /kvCacheTokens/);
    await assertRejectsWith(loadModel(tiny, { cudaGraphs: 'yes' as never }), 'ERR_GPTNEO_INVALID_ARGUMENT',
      /Expected boolean for cudaGraphs/);
    await assertRejectsWith(loadModel(tiny, { kvCacheDtype: 'int8' as never }), 'ERR_GPTNEO_INVALID_ARGUMENT',
      /kvCacheDtype/);
  });

  it('kvCacheDtype: float32 on the CPU (auto or asked); a half-precision cache there is refused', async () => {
    assert.equal(model.info().kvDtype, 'float32');
    await using asked = await loadModel(tiny, { device: 'cpu', threads: 1, dtype: 'bfloat16', kvCacheDtype: 'float32' });
    assert.equal(asked.info().kvDtype, 'float32');
    assert.equal(asked.info().kvBytes, model.info().kvBytes);
    for (const kvCacheDtype of ['bfloat16', 'float16'] as const) {
      await assertRejectsWith(loadModel(tiny, { device: 'cpu', kvCacheDtype }), 'ERR_GPTNEO_UNSUPPORTED',
        new RegExp(`kvCacheDtype '${kvCacheDtype}' is supported on CUDA only`));
    }
  });

  it('cudaGraphs is accepted and ignored on the CPU; info() reports graphs on CUDA only', async () => {
    await using cpu = await loadModel(tiny, { device: 'cpu', threads: 1, cudaGraphs: false });
    assert.equal(cpu.info().cudaGraphs, undefined);
    assert.equal(model.info().cudaGraphs, undefined);
  });

  it('the CUDA kernel switches leave a CPU model alone and are not reported for it', async () => {
    await using plain = await loadModel(tiny, { device: 'cpu', threads: 1 });
    const on = { GPTNEO_CUDA_GEMV_STREAM: '1', GPTNEO_CUDA_FUSED_LN: '1', GPTNEO_CUDA_PDL: '1', GPTNEO_CUDA_WGMMA: '1' };
    await using cpu = await withEnv(on, () => loadModel(tiny, { device: 'cpu', threads: 1 }));
    assert.equal(cpu.info().cudaExperimental, undefined);
    const opts = { maxNewTokens: 8, temperature: 0, ignoreEos: true } as const;
    const [got, want] = await Promise.all([cpu.generate([1, 2, 3], opts), plain.generate([1, 2, 3], opts)]);
    assert.deepEqual(got.tokenIds, want.tokenIds);
  });

  it("device: 'cuda' without a usable GPU names the cause", async function () {
    const { devices } = await import('../lib/index.js');
    if (devices().some((d) => d.type === 'cuda' && d.usable)) {
      this.skip(); // a real GPU is present: the CUDA tests cover it
    }
    await assertRejectsWith(loadModel(tiny, { device: 'cuda' }), 'ERR_GPTNEO_DEVICE_UNAVAILABLE', /CUDA/);
  });

  it('token ids: negative, non-integer, out of range, wrong type, empty', async () => {
    await assertRejectsWith(model.forward([1, -1]), 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE', /-1/);
    await assertRejectsWith(model.forward([1, 512]), 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE', /512.*\[0, 512\)/);
    await assertRejectsWith(model.forward([1.5]), 'ERR_GPTNEO_INVALID_ARGUMENT', /integer/);
    await assertRejectsWith(model.forward(['a'] as never), 'ERR_GPTNEO_INVALID_ARGUMENT', /integer/);
    await assertRejectsWith(model.forward([]), 'ERR_GPTNEO_INVALID_ARGUMENT', /empty/);
    await assertRejectsWith(model.forward('text' as never), 'ERR_GPTNEO_INVALID_ARGUMENT', /array of token ids/);
    await assertRejectsWith(model.generate([1, 2, 99999]), 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE', /99999/);
  });

  it('input longer than max_position_embeddings', async () => {
    const ids = Array.from({ length: 129 }, (_, i) => i % 512);
    await assertRejectsWith(model.forward(ids), 'ERR_GPTNEO_CONTEXT_OVERFLOW', /129 tokens/);
    await assertRejectsWith(model.generate(ids.slice(0, 120), { maxNewTokens: 9 }), 'ERR_GPTNEO_CONTEXT_OVERFLOW',
      /120 tokens and 9 new tokens/);
  });

  it("truncate: 'left' keeps the most recent prompt tokens", async () => {
    const ids = Array.from({ length: 130 }, (_, i) => (i * 7) % 512);
    const out = await model.generate(ids, { maxNewTokens: 4, temperature: 0, truncate: 'left' });
    assert.equal(out.usage.promptTokens, 124);
    const same = await model.generate(ids.slice(6), { maxNewTokens: 4, temperature: 0 });
    assert.deepEqual(out.tokenIds, same.tokenIds);
  });

  it('a string prompt without a tokenizer', async () => {
    assert.equal(model.tokenizer, undefined);
    await assertRejectsWith(model.generate('hello'), 'ERR_GPTNEO_NO_TOKENIZER', /token ids/);
  });

  it('generation options are validated with one message style', async () => {
    await assertRejectsWith(model.generate([1, 2], { maxNewTokens: -1 }), 'ERR_GPTNEO_INVALID_ARGUMENT',
      /Expected positive integer for maxNewTokens but received -1/);
    await assertRejectsWith(model.generate([1, 2], { temperature: -1 }), 'ERR_GPTNEO_INVALID_ARGUMENT', /temperature/);
    await assertRejectsWith(model.generate([1, 2], { maxTokens: 3 } as never), 'ERR_GPTNEO_INVALID_ARGUMENT', /maxTokens/);
    await assertRejectsWith(model.forward([1], { output: 'probs' as never }), 'ERR_GPTNEO_INVALID_ARGUMENT', /output/);
  });

  it('native steps re-check ids, positions and block tables', async () => {
    const config = await readConfig(tiny);
    const table = resolveGptNeoWeights(await readSafetensorsHeader(join(tiny, 'model.safetensors')), config);
    const native = new (loadNative().NativeModel)(nativeConfig(config), { device: 'cpu', threads: 1 });
    const code = (c: string) => (e: { code?: string }) => e.code === c;
    assert.throws(() => native.load(join(tiny, 'model.safetensors'), table.tensors,
      { weightDtype: 'F32', kvBlocks: 4, blockSize: 16, graphs: 'yes' as never }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    assert.throws(() => native.load(join(tiny, 'model.safetensors'), table.tensors,
      { weightDtype: 'F32', kvBlocks: 4, blockSize: 16, kvDtype: 'I8' as never }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    // The CPU backend's kernels read a float32 cache: a bf16 one is refused by the native load itself.
    const other = new (loadNative().NativeModel)(nativeConfig(config), { device: 'cpu', threads: 1 });
    await assert.rejects(other.load(join(tiny, 'model.safetensors'), table.tensors,
      { weightDtype: 'BF16', kvBlocks: 4, blockSize: 16, kvDtype: 'BF16' }),
    (e: { code?: string; message?: string }) => e.code === 'ERR_GPTNEO_UNSUPPORTED' && /KV cache/.test(e.message ?? ''));
    other.dispose();
    await native.load(join(tiny, 'model.safetensors'), table.tensors, { weightDtype: 'F32', kvBlocks: 4, blockSize: 16 });
    // The CPU backend records nothing: graph stats are reported, off.
    assert.deepEqual(native.info().graphs, { enabled: false, recorded: 0, replays: 0 });
    const step = (over: object) => native.step({
      tokenIds: Int32Array.of(1), positions: Int32Array.of(0), seqStarts: Int32Array.of(0, 1), blockTables: Int32Array.of(0),
      maxBlocks: 1, outputRows: Int32Array.of(0), output: 'logits', ...over,
    });
    await assert.rejects(step({ tokenIds: Int32Array.of(512) }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    await assert.rejects(step({ positions: Int32Array.of(128) }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    await assert.rejects(step({ blockTables: Int32Array.of(4) }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    await assert.rejects(step({ positions: Int32Array.of(16) }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    await assert.rejects(step({ outputRows: Int32Array.of(1) }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    await assert.rejects(step({ seqStarts: Int32Array.of(0, 2) }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    assert.throws(() => step({ tokenIds: [1] }), code('ERR_GPTNEO_INVALID_ARGUMENT'));
    // Output 'sample': the rows' sampling arguments are checked before anything is queued.
    const opts = validateSamplingOptions({ temperature: 1, seed: 1 }, { vocabSize: config.vocabSize });
    const e = new Int32Array(0);
    const row = { options: opts, u: 0.25, seenIds: e, countIds: e, counts: e, biasIds: e, biasValues: new Float64Array(0) };
    const invalid = (over: object, message: RegExp) => assert.throws(() => step({ output: 'sample', ...over }),
      (err: Error & { code?: string }) => err.code === 'ERR_GPTNEO_INVALID_ARGUMENT' && message.test(err.message), String(message));
    invalid({}, /expected an object for sampling/);
    invalid({ sampling: packSamplingRows([row, row]) }, /one entry per output row in temperature/);
    invalid({ sampling: packSamplingRows([{ ...row, seenIds: Int32Array.of(config.vocabSize) }]) }, /seenIds holds a token id outside/);
    invalid({ sampling: { ...packSamplingRows([row]), u: Float64Array.of(1) } }, /u must be in \[0, 1\)/);
    const sampled = await step({ output: 'sample', sampling: packSamplingRows([row]) });
    assert.ok(sampled instanceof Int32Array && sampled.length === 1);
    const logits = await step({}) as Float32Array;  // the same step's logits: the TypeScript sampler agrees
    assert.equal(sampled[0], sampleToken(logits, opts, { rng: { next: () => 0.25 }, tokenCounts: new Map(),
      promptAndGeneratedIds: new Set() }));
    // Two steps at once on one model: the second is refused, the first completes.
    const first = step({});
    assert.throws(() => step({}), code('ERR_GPTNEO_BUSY'));
    assert.ok((await first) instanceof Float32Array);
    native.dispose();
    assert.throws(() => step({}), code('ERR_GPTNEO_DISPOSED'));
  });

  it('the model still works after all of the above', async () => {
    const out = await model.generate([1, 2, 3], { maxNewTokens: 3, temperature: 0 });
    assert.equal(out.tokenIds.length, 3);
    assert.ok(model.stats().kv.usedBlocks === 0);
  });
});

describe('errors: use after dispose', () => {
  it('dispose is idempotent; every call afterwards throws ERR_GPTNEO_DISPOSED', async () => {
    const model = await loadModel(tiny, { device: 'cpu', threads: 1 });
    await model.dispose();
    await model.dispose();
    await assertRejectsWith(model.forward([1]), 'ERR_GPTNEO_DISPOSED', /disposed/);
    await assertRejectsWith(model.generate([1]), 'ERR_GPTNEO_DISPOSED', /disposed/);
    assert.throws(() => model.stream([1]), (e: { code?: string }) => e.code === 'ERR_GPTNEO_DISPOSED');
  });

  it('requests pending at dispose fail with ERR_GPTNEO_DISPOSED; nothing hangs', async () => {
    const model = await loadModel(tiny, { device: 'cpu', threads: 1 });
    const pending = Array.from({ length: 4 }, (_, i) => model.generate([i + 1, 2, 3], { maxNewTokens: 100, temperature: 0 }));
    const disposed = model.dispose();
    const results = await Promise.allSettled(pending);
    await disposed;
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.code, 'ERR_GPTNEO_DISPOSED');
    }
  });

  it('await using disposes the model', async () => {
    let outer: GptNeoModel | undefined;
    {
      await using model = await loadModel(tiny, { device: 'cpu', threads: 1 });
      outer = model;
      await model.forward([1, 2]);
    }
    await assertRejectsWith(outer!.forward([1]), 'ERR_GPTNEO_DISPOSED', /disposed/);
  });
});
