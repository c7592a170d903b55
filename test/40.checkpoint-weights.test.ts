// The GPT-Neo tensor table (lib/model/weights.ts) over the fixtures and hand-made checkpoints.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig, readConfig } from '../lib/model/config.js';
import { readSafetensorsHeader, readTensor } from '../lib/model/safetensors.js';
import { expectedGptNeoTensors, isLegacyAttentionBuffer, resolveGptNeoWeights } from '../lib/model/weights.js';
import {
  assertRejectsWith, fixtureConfigJson, gptNeoEntries, TempDirs, writeZeroSafetensors, type TensorEntry,
} from './helpers/checkpoints.js';
import { fixture } from './helpers/paths.js';

const BAD = 'ERR_GPTNEO_BAD_CHECKPOINT';

describe('40 checkpoint: GPT-Neo tensor table', () => {
  const temp = new TempDirs();
  after(() => temp.cleanup());
  let dir: string;
  let tinyJson: Record<string, unknown>;
  before(async () => {
    dir = await temp.make();
    tinyJson = await fixtureConfigJson('tiny-neo');
  });
  let n = 0;
  /** Writes entries as a zero-filled checkpoint and resolves it against the tiny-neo config (or another). */
  async function resolveEntries(entries: TensorEntry[], configJson: unknown = tinyJson) {
    const p = join(dir, `case-${n++}.safetensors`);
    await writeZeroSafetensors(p, entries);
    return resolveGptNeoWeights(await readSafetensorsHeader(p), parseConfig(configJson));
  }
  const replace = (entries: TensorEntry[], name: string, change: Partial<TensorEntry>): TensorEntry[] =>
    entries.map((e) => (e.name === name ? { ...e, ...change } : e));

  for (const name of ['tiny-neo', 'tiny-neo-gpt2vocab']) {
    it(`resolves the ${name} fixture: canonical names, config shapes, tied head`, async () => {
      const config = await readConfig(fixture(name));
      const file = await readSafetensorsHeader(fixture(name, 'model.safetensors'));
      const table = resolveGptNeoWeights(file, config);
      const { hiddenSize: h, intermediateSize: i, vocabSize: v, maxPositionEmbeddings: pos } = config;
      assert.equal(table.lmHeadTied, true);
      assert.equal(table.dtype, 'F32');
      assert.deepEqual(table.ignored, []);
      assert.deepEqual(table.skippedBuffers, []);
      assert.equal(table.tensors.length, 2 + 13 * config.numLayers + 2);
      const byName = new Map(table.tensors.map((t) => [t.name, t]));
      assert.deepEqual(byName.get('wte.weight')!.shape, [v, h]);
      assert.deepEqual(byName.get('wpe.weight')!.shape, [pos, h]);
      assert.deepEqual(byName.get('h.1.attn.attention.q_proj.weight')!.shape, [h, h]);
      assert.deepEqual(byName.get('h.1.attn.attention.out_proj.bias')!.shape, [h]);
      assert.deepEqual(byName.get('h.1.mlp.c_fc.weight')!.shape, [i, h]);
      assert.deepEqual(byName.get('h.1.mlp.c_proj.weight')!.shape, [h, i]);
      assert.deepEqual(byName.get('ln_f.bias')!.shape, [h]);
      assert.equal(byName.has('lm_head.weight'), false);
      assert.equal(byName.has('h.0.attn.attention.q_proj.bias'), false);
      for (const t of table.tensors) {
        const info = file.tensors.get(`transformer.${t.name}`)!;
        assert.deepEqual({ offset: t.offset, nbytes: t.nbytes, dtype: t.dtype }, { offset: info.begin, nbytes: info.nbytes, dtype: 'F32' });
      }
    });
  }

  it('points each entry at its tensor data (bytes at offset == readTensor)', async () => {
    const file = await readSafetensorsHeader(fixture('tiny-neo', 'model.safetensors'));
    const table = resolveGptNeoWeights(file, await readConfig(fixture('tiny-neo')));
    const entry = table.tensors.find((t) => t.name === 'h.2.mlp.c_proj.bias')!;
    const fh = await open(fixture('tiny-neo', 'model.safetensors'));
    const bytes = Buffer.alloc(entry.nbytes);
    try { await fh.read(bytes, 0, entry.nbytes, entry.offset); } finally { await fh.close(); }
    const expected = (await readTensor(file, 'transformer.h.2.mlp.c_proj.bias')).data as Float32Array;
    assert.deepEqual(new Float32Array(bytes.buffer, bytes.byteOffset, entry.nbytes / 4), expected);
    assert.ok(expected.some((x) => x !== 0), 'the fixture bias is not all zeros');
  });

  it('lists tensors in the order of expectedGptNeoTensors', async () => {
    const table = await resolveEntries(gptNeoEntries(tinyJson).reverse());
    assert.deepEqual(table.tensors.map((t) => t.name), expectedGptNeoTensors(parseConfig(tinyJson)).map((t) => t.name));
  });

  it('uses lm_head.weight when present', async () => {
    const table = await resolveEntries(gptNeoEntries(tinyJson, 'F32', true));
    assert.equal(table.lmHeadTied, false);
    assert.deepEqual(table.tensors.at(-1), {
      name: 'lm_head.weight', dtype: 'F32', shape: [512, 64], offset: table.tensors.at(-1)!.offset, nbytes: 512 * 64 * 4,
    });
  });

  it('rejects lm_head.weight with the wrong shape', async () => {
    await assertRejectsWith(resolveEntries(replace(gptNeoEntries(tinyJson, 'F32', true), 'lm_head.weight', { shape: [64, 512] })),
      BAD, /tensor lm_head\.weight has shape \[64, 512\] but the config implies \[512, 64\]/);
  });

  it('requires lm_head.weight when tie_word_embeddings is false', async () => {
    await assertRejectsWith(resolveEntries(gptNeoEntries(tinyJson), { ...tinyJson, tie_word_embeddings: false }),
      BAD, /missing tensor lm_head\.weight: config\.json sets tie_word_embeddings to false/);
  });

  it('accepts names without the transformer. prefix', async () => {
    const entries = gptNeoEntries(tinyJson).map((e) => ({ ...e, name: e.name.replace(/^transformer\./, '') }));
    const table = await resolveEntries(entries);
    assert.equal(table.tensors.length, 56);
  });

  it('rejects a tensor present both with and without the prefix', async () => {
    const entries = [...gptNeoEntries(tinyJson), { name: 'ln_f.bias', dtype: 'F32' as const, shape: [64] }];
    await assertRejectsWith(resolveEntries(entries), BAD, /tensor ln_f\.bias is present twice, as "transformer\.ln_f\.bias" and "ln_f\.bias"/);
  });

  it('skips legacy attention buffers of any dtype', async () => {
    const entries: TensorEntry[] = [
      ...gptNeoEntries(tinyJson),
      { name: 'transformer.h.0.attn.attention.bias', dtype: 'BOOL', shape: [1, 1, 128, 128] },
      { name: 'transformer.h.1.attn.attention.bias', dtype: 'U8', shape: [1, 1, 128, 128] },
      { name: 'transformer.h.0.attn.attention.masked_bias', dtype: 'F32', shape: [] },
    ];
    const table = await resolveEntries(entries);
    assert.deepEqual(table.skippedBuffers, entries.slice(-3).map((e) => e.name));
    assert.deepEqual(table.ignored, []);
    assert.equal(table.tensors.length, 56);
    assert.ok(table.tensors.every((t) => t.dtype === 'F32'));
  });

  it('recognises only the legacy buffer names as skippable', () => {
    assert.equal(isLegacyAttentionBuffer('transformer.h.11.attn.attention.bias'), true);
    assert.equal(isLegacyAttentionBuffer('h.0.attn.attention.masked_bias'), true);
    assert.equal(isLegacyAttentionBuffer('transformer.h.0.attn.attention.out_proj.bias'), false);
    assert.equal(isLegacyAttentionBuffer('transformer.h.0.ln_1.bias'), false);
    assert.equal(isLegacyAttentionBuffer('transformer.h.x.attn.attention.bias'), false);
  });

  it('ignores unknown extra tensors and records them', async () => {
    const table = await resolveEntries([...gptNeoEntries(tinyJson), { name: 'score.weight', dtype: 'F32', shape: [2, 64] },
      { name: 'transformer.h.9.ln_1.weight', dtype: 'F16', shape: [64] }]);
    assert.deepEqual(table.ignored, ['score.weight', 'transformer.h.9.ln_1.weight']);
    assert.equal(table.tensors.length, 56);
  });

  it('reports per-tensor dtypes and the dominant one when they are mixed', async () => {
    const entries = gptNeoEntries(tinyJson, 'BF16').map((e) => (e.shape.length === 1 ? { ...e, dtype: 'F32' as const } : e));
    const table = await resolveEntries(entries);
    assert.equal(table.dtype, 'BF16');
    const byName = new Map(table.tensors.map((t) => [t.name, t]));
    assert.deepEqual([byName.get('ln_f.weight')!.dtype, byName.get('ln_f.weight')!.nbytes], ['F32', 256]);
    assert.deepEqual([byName.get('wte.weight')!.dtype, byName.get('wte.weight')!.nbytes], ['BF16', 512 * 64 * 2]);
  });

  it('rejects a non-float weight even when the reader was told to accept it', async () => {
    const p = join(dir, 'int-weight.safetensors');
    await writeZeroSafetensors(p, replace(gptNeoEntries(tinyJson), 'transformer.wpe.weight', { dtype: 'I32' }));
    const file = await readSafetensorsHeader(p, { acceptDtype: () => true });
    assert.throws(() => resolveGptNeoWeights(file, parseConfig(tinyJson)),
      (e: Error & { code?: string }) => e.code === BAD && /tensor transformer\.wpe\.weight has dtype I32/.test(e.message));
  });

  it('rejects a missing tensor, naming it', async () => {
    const entries = gptNeoEntries(tinyJson).filter((e) => e.name !== 'transformer.h.3.attn.attention.v_proj.weight');
    await assertRejectsWith(resolveEntries(entries), BAD,
      /missing tensor h\.3\.attn\.attention\.v_proj\.weight \(expected shape \[64, 64\]; also looked for transformer\.h\.3/);
  });

  it('rejects a shape that differs from the config, naming tensor, expected and actual shape', async () => {
    const entries = replace(gptNeoEntries(tinyJson), 'transformer.h.1.mlp.c_fc.weight', { shape: [64, 256] });
    await assertRejectsWith(resolveEntries(entries), BAD,
      /tensor transformer\.h\.1\.mlp\.c_fc\.weight has shape \[64, 256\] but the config implies \[256, 64\]/);
    // The fixture's own weights against a config with a different vocabulary.
    const file = await readSafetensorsHeader(fixture('tiny-neo', 'model.safetensors'));
    assert.throws(() => resolveGptNeoWeights(file, parseConfig({ ...tinyJson, vocab_size: 50257 })),
      /tensor transformer\.wte\.weight has shape \[512, 64\] but the config implies \[50257, 64\]/);
  });
});
