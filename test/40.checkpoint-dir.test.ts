// Reading a whole model directory (readGptNeoCheckpoint in lib/model/checkpoint.ts).
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readGptNeoCheckpoint } from '../lib/model/checkpoint.js';
import { assertRejectsWith, copyFixtureModel, gptNeoEntries, TempDirs, writeConfigJson, writeZeroSafetensors } from './helpers/checkpoints.js';
import { fixture } from './helpers/paths.js';

describe('40 checkpoint: model directory', () => {
  const temp = new TempDirs();
  after(() => temp.cleanup());

  it('reads the tiny-neo-gpt2vocab fixture directory', async () => {
    const ckpt = await readGptNeoCheckpoint(fixture('tiny-neo-gpt2vocab'));
    assert.equal(ckpt.config.vocabSize, 50257);
    assert.equal(ckpt.file.path, fixture('tiny-neo-gpt2vocab', 'model.safetensors'));
    assert.equal(ckpt.weights.tensors.length, 30);
    assert.equal(ckpt.weights.lmHeadTied, true);
  });

  it('rejects a directory without config.json', async () => {
    const dir = await temp.make();
    await copyFixtureModel('tiny-neo', dir);
    await rm(join(dir, 'config.json'));
    await assertRejectsWith(readGptNeoCheckpoint(dir), 'ERR_GPTNEO_FILE_NOT_FOUND', /No config\.json in/);
  });

  it('rejects a directory without model.safetensors, with a conversion hint when pytorch_model.bin is there', async () => {
    const dir = await temp.make();
    await copyFixtureModel('tiny-neo', dir);
    await rm(join(dir, 'model.safetensors'));
    await assertRejectsWith(readGptNeoCheckpoint(dir), 'ERR_GPTNEO_FILE_NOT_FOUND',
      /No model\.safetensors in .*\n {2}hint: a model directory needs config\.json and model\.safetensors/);
    await writeFile(join(dir, 'pytorch_model.bin'), 'not read');
    await assertRejectsWith(readGptNeoCheckpoint(dir), 'ERR_GPTNEO_FILE_NOT_FOUND', /only safetensors weights are supported/);
  });

  it('rejects weights that do not match the config', async () => {
    const dir = await temp.make();
    const config = { model_type: 'gpt_neo', vocab_size: 512, max_position_embeddings: 128, hidden_size: 64, num_layers: 2,
      num_heads: 4, attention_types: [[['global', 'local'], 1]], window_size: 8 };
    await writeConfigJson(dir, config);
    await writeZeroSafetensors(join(dir, 'model.safetensors'), gptNeoEntries({ ...config, num_layers: 1, attention_types: [[['global'], 1]] }));
    await assertRejectsWith(readGptNeoCheckpoint(dir), 'ERR_GPTNEO_BAD_CHECKPOINT', /missing tensor h\.1\.ln_1\.weight/);
  });
});
