// Seeded random checkpoints (lib/model/random-checkpoint.ts): tiny preset only, so tests stay fast.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readConfig } from '../lib/model/config.js';
import {
  float32ToBfloat16Bits, float32ToFloat16Bits, writeRandomCheckpoint, type RandomCheckpointOptions,
} from '../lib/model/random-checkpoint.js';
import { readSafetensorsHeader, readTensor } from '../lib/model/safetensors.js';
import { resolveGptNeoWeights } from '../lib/model/weights.js';
import { assertRejectsWith, fixtureConfigJson, TempDirs } from './helpers/checkpoints.js';

const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');

function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const u32 = Uint32Array.from(bits, (b) => b << 16);
  return new Float32Array(u32.buffer);
}

function stats(values: Float32Array): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / values.length) };
}

describe('40 checkpoint: random checkpoints', () => {
  const temp = new TempDirs();
  after(() => temp.cleanup());
  const write = async (options: RandomCheckpointOptions): Promise<string> => {
    const dir = join(await temp.make(), 'model');
    await writeRandomCheckpoint(dir, options);
    return dir;
  };

  it('writes a tiny float32 checkpoint that reads back like the tiny-neo fixture', async () => {
    const dir = await write({ preset: 'tiny', seed: 7, dtype: 'float32' });
    assert.deepEqual((await readdir(dir)).sort(), ['config.json', 'model.safetensors']);
    const config = await readConfig(dir);
    const fixtureConfig = await fixtureConfigJson('tiny-neo');
    for (const key of ['vocab_size', 'max_position_embeddings', 'hidden_size', 'num_layers', 'num_heads', 'window_size',
      'attention_types', 'attention_layers', 'intermediate_size', 'activation_function', 'model_type', 'layer_norm_epsilon']) {
      assert.deepEqual(config.raw[key], fixtureConfig[key], key);
    }
    const file = await readSafetensorsHeader(join(dir, 'model.safetensors'));
    assert.deepEqual(file.metadata, { format: 'pt' });
    assert.ok(file.tensors.has('transformer.h.3.mlp.c_proj.bias'));
    const table = resolveGptNeoWeights(file, config);
    assert.equal(table.dtype, 'F32');
    assert.equal(table.lmHeadTied, true);
    assert.equal(table.tensors.length, 56);

    const wte = stats((await readTensor(file, 'transformer.wte.weight')).data as Float32Array);
    assert.ok(Math.abs(wte.mean) < 0.001 && Math.abs(wte.std - 0.02) < 0.001, JSON.stringify(wte));
    const ln = stats((await readTensor(file, 'transformer.h.0.ln_1.weight')).data as Float32Array);
    assert.ok(Math.abs(ln.mean - 1) < 0.01 && ln.std > 0.005 && ln.std < 0.05, JSON.stringify(ln));
    const bias = stats((await readTensor(file, 'transformer.h.0.mlp.c_fc.bias')).data as Float32Array);
    assert.ok(Math.abs(bias.mean) < 0.005 && bias.std > 0.005 && bias.std < 0.02, JSON.stringify(bias));
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const a = await write({ preset: 'tiny', seed: 3, dtype: 'float32' });
    const b = await write({ preset: 'tiny', seed: 3, dtype: 'float32' });
    const c = await write({ preset: 'tiny', seed: 4, dtype: 'float32' });
    const [ha, hb, hc] = await Promise.all([a, b, c].map((d) => sha256(join(d, 'model.safetensors'))));
    assert.equal(ha, hb);
    assert.notEqual(ha, hc);
    assert.equal(await readFile(join(a, 'config.json'), 'utf8'), await readFile(join(c, 'config.json'), 'utf8'));
  });

  it('writes bfloat16 that is float32 rounded, and float16', async () => {
    const f32Dir = await write({ preset: 'tiny', seed: 5, dtype: 'float32' });
    const bf16Dir = await write({ preset: 'tiny', seed: 5, dtype: 'bfloat16' });
    const f16Dir = await write({ preset: 'tiny', seed: 5, dtype: 'float16' });
    const f32File = await readSafetensorsHeader(join(f32Dir, 'model.safetensors'));
    const bf16File = await readSafetensorsHeader(join(bf16Dir, 'model.safetensors'));
    const f16File = await readSafetensorsHeader(join(f16Dir, 'model.safetensors'));
    assert.equal(resolveGptNeoWeights(bf16File, await readConfig(bf16Dir)).dtype, 'BF16');
    assert.equal(resolveGptNeoWeights(f16File, await readConfig(f16Dir)).dtype, 'F16');
    assert.equal(bf16File.fileSize - bf16File.dataOffset, (f32File.fileSize - f32File.dataOffset) / 2);
    const name = 'transformer.h.1.attn.attention.k_proj.weight';
    const exact = (await readTensor(f32File, name)).data as Float32Array;
    const rounded = bfloat16ToFloat32((await readTensor(bf16File, name)).data as Uint16Array);
    for (let i = 0; i < exact.length; i++) {
      assert.ok(Math.abs(rounded[i]! - exact[i]!) <= Math.abs(exact[i]!) * 2 ** -8, `element ${i}: ${rounded[i]} vs ${exact[i]}`);
    }
    assert.deepEqual((await readTensor(f16File, name)).data, float32ToFloat16Bits(exact));
    assert.equal((await readConfig(bf16Dir)).raw.torch_dtype, 'bfloat16');
  });

  it('applies overrides: odd layer count, untied head, explicit intermediate size', async () => {
    const dir = await write({ preset: 'tiny', seed: 1, dtype: 'float32', numLayers: 3, untiedLmHead: true, intermediateSize: 96, vocabSize: 100 });
    const config = await readConfig(dir);
    assert.deepEqual(config.attentionLayers, ['global', 'local', 'global']);
    assert.equal(config.intermediateSize, 96);
    assert.equal(config.tieWordEmbeddings, false);
    const table = resolveGptNeoWeights(await readSafetensorsHeader(join(dir, 'model.safetensors')), config);
    assert.equal(table.lmHeadTied, false);
    assert.deepEqual(table.tensors.at(-1)!.shape, [100, 64]);
    assert.deepEqual(table.tensors.find((t) => t.name === 'h.2.mlp.c_fc.weight')!.shape, [96, 64]);
  });

  it('rejects bad options with ERR_GPTNEO_INVALID_ARGUMENT', async () => {
    const base: RandomCheckpointOptions = { preset: 'tiny', seed: 1, dtype: 'float32' };
    const dir = await temp.make();
    await assertRejectsWith(writeRandomCheckpoint(dir, { ...base, preset: '2.7b' as '125m' }), 'ERR_GPTNEO_INVALID_ARGUMENT',
      /Expected one of 'tiny', '125m', '1.3b' for options.preset but received "2.7b"/);
    await assertRejectsWith(writeRandomCheckpoint(dir, { ...base, seed: -1 }), 'ERR_GPTNEO_INVALID_ARGUMENT', /options\.seed/);
    await assertRejectsWith(writeRandomCheckpoint(dir, { ...base, numHeads: 5 }), 'ERR_GPTNEO_INVALID_ARGUMENT',
      /hiddenSize \(64\) to be divisible by options\.numHeads \(5\)/);
    await assertRejectsWith(writeRandomCheckpoint(dir, { ...base, layers: 2 } as RandomCheckpointOptions), 'ERR_GPTNEO_INVALID_ARGUMENT',
      /Unknown option options\.layers/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('rounds float32 to bfloat16 and float16 to nearest even, with subnormals and specials', () => {
    const bf16 = float32ToBfloat16Bits(Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2, Infinity, NaN, 0]));
    assert.deepEqual(Array.from(bf16), [0x3f80, 0x3f80, 0x3f82, 0xc000, 0x7f80, 0x7fc0, 0]);
    const f16 = float32ToFloat16Bits(Float32Array.from([
      1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.5, -2, 1 / 3, 65504, 65520, 1e6, 2 ** -14, 2 ** -14 - 2 ** -26, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-7, 1e-9,
      -0, Infinity, -Infinity, NaN,
    ]));
    assert.deepEqual(Array.from(f16), [
      0x3c00, 0x3c00, 0x3c02, 0x3800, 0xc000, 0x3555, 0x7bff, 0x7c00, 0x7c00, 0x0400, 0x0400, 0x0001, 0x0000, 0x0001, 0x0002, 0x0000,
      0x8000, 0x7c00, 0xfc00, 0x7e00,
    ]);
  });
});
