// config.json parsing and validation (lib/model/config.ts).
import assert from 'node:assert/strict';
import { parseConfig, readConfig } from '../lib/model/config.js';
import {
  assertRejectsWith, assertThrowsWith, fixtureConfigJson, TempDirs, writeConfigJson,
} from './helpers/checkpoints.js';
import { fixture } from './helpers/paths.js';

describe('40 checkpoint: config.json', () => {
  const temp = new TempDirs();
  after(() => temp.cleanup());
  let tiny: Record<string, unknown>;
  before(async () => { tiny = await fixtureConfigJson('tiny-neo'); });
  const withChanges = (changes: Record<string, unknown>): Record<string, unknown> => {
    const json: Record<string, unknown> = { ...tiny, ...changes };
    for (const [k, v] of Object.entries(changes)) if (v === undefined) delete json[k];
    return json;
  };

  it('reads the tiny-neo fixture config', async () => {
    const config = await readConfig(fixture('tiny-neo'));
    const { raw, ...fields } = config;
    assert.deepEqual(fields, {
      modelType: 'gpt_neo', vocabSize: 512, maxPositionEmbeddings: 128, hiddenSize: 64, numLayers: 4, numHeads: 4,
      headDim: 16, intermediateSize: 256, windowSize: 8, layerNormEpsilon: 1e-5,
      attentionLayers: ['global', 'local', 'global', 'local'], activationFunction: 'gelu_new',
      bosTokenId: 50256, eosTokenId: 50256, tieWordEmbeddings: true,
    });
    assert.equal(raw.transformers_version, '4.36.2');
  });

  it('reads the tiny-neo-gpt2vocab fixture config', async () => {
    const config = await readConfig(fixture('tiny-neo-gpt2vocab'));
    assert.equal(config.vocabSize, 50257);
    assert.equal(config.maxPositionEmbeddings, 256);
    assert.equal(config.hiddenSize, 32);
    assert.equal(config.headDim, 16);
    assert.equal(config.intermediateSize, 128);
    assert.equal(config.windowSize, 16);
    assert.deepEqual(config.attentionLayers, ['global', 'local']);
  });

  it('expands attention_types alone, and accepts attention_layers alone', () => {
    const types = parseConfig(withChanges({ attention_layers: undefined, attention_types: [[['global'], 1], [['local', 'global', 'local'], 1]] }));
    assert.deepEqual(types.attentionLayers, ['global', 'local', 'global', 'local']);
    const layers = parseConfig(withChanges({ attention_types: undefined, attention_layers: ['local', 'local', 'global', 'local'] }));
    assert.deepEqual(layers.attentionLayers, ['local', 'local', 'global', 'local']);
  });

  it('applies GPTNeoConfig defaults and an explicit intermediate_size', () => {
    const config = parseConfig(withChanges({
      bos_token_id: undefined, eos_token_id: undefined, tie_word_embeddings: undefined, intermediate_size: 100,
    }));
    assert.equal(config.bosTokenId, 50256);
    assert.equal(config.eosTokenId, 50256);
    assert.equal(config.tieWordEmbeddings, true);
    assert.equal(config.intermediateSize, 100);
    assert.equal(parseConfig(withChanges({ tie_word_embeddings: false })).tieWordEmbeddings, false);
  });

  it('accepts a config without model_type when architectures names GPTNeoForCausalLM', () => {
    assert.equal(parseConfig(withChanges({ model_type: undefined })).modelType, 'gpt_neo');
  });

  it('rejects a missing config.json with ERR_GPTNEO_FILE_NOT_FOUND', async () => {
    const dir = await temp.make();
    await assertRejectsWith(readConfig(dir), 'ERR_GPTNEO_FILE_NOT_FOUND', /No config\.json in/);
  });

  it('rejects invalid JSON with ERR_GPTNEO_BAD_CONFIG', async () => {
    const dir = await temp.make();
    await writeConfigJson(dir, '{"model_type": "gpt_neo",');
    await assertRejectsWith(readConfig(dir), 'ERR_GPTNEO_BAD_CONFIG', /config\.json: not valid JSON/);
  });

  it('rejects JSON that is not an object', () => {
    assertThrowsWith(() => parseConfig([tiny]), 'ERR_GPTNEO_BAD_CONFIG', /Expected a JSON object but received an array/);
  });

  it('rejects an unknown model_type with ERR_GPTNEO_UNSUPPORTED_MODEL naming it', () => {
    assertThrowsWith(() => parseConfig(withChanges({ model_type: 'gpt2' })), 'ERR_GPTNEO_UNSUPPORTED_MODEL', /model_type "gpt2"/);
    assertThrowsWith(() => parseConfig(withChanges({ model_type: undefined, architectures: ['LlamaForCausalLM'] })),
      'ERR_GPTNEO_UNSUPPORTED_MODEL', /no model_type and architectures \["LlamaForCausalLM"\]/);
  });

  it('rejects an activation other than gelu_new with ERR_GPTNEO_UNSUPPORTED_MODEL', () => {
    assertThrowsWith(() => parseConfig(withChanges({ activation_function: 'gelu' })),
      'ERR_GPTNEO_UNSUPPORTED_MODEL', /activation_function "gelu" is not supported/);
  });

  it('rejects attention_types whose expansion does not have num_layers entries', () => {
    assertThrowsWith(() => parseConfig(withChanges({ attention_layers: undefined, attention_types: [[['global', 'local'], 3]] })),
      'ERR_GPTNEO_BAD_CONFIG', /attention_types expands to 6 layers but num_layers is 4/);
    assertThrowsWith(() => parseConfig(withChanges({ attention_layers: undefined, attention_types: [[['global', 'local'], 2 ** 40]] })),
      'ERR_GPTNEO_BAD_CONFIG', /attention_types expands to 2199023255552 layers but num_layers is 4/);
    assertThrowsWith(() => parseConfig(withChanges({ attention_types: undefined, attention_layers: ['global', 'local'] })),
      'ERR_GPTNEO_BAD_CONFIG', /attention_layers has 2 entries but num_layers is 4/);
  });

  it('rejects attention_layers that disagree with attention_types', () => {
    assertThrowsWith(() => parseConfig(withChanges({ attention_layers: ['global', 'global', 'global', 'local'] })),
      'ERR_GPTNEO_BAD_CONFIG', /attention_layers .* disagrees with attention_types/);
  });

  it('rejects malformed attention_types and a config with neither attention field', () => {
    assertThrowsWith(() => parseConfig(withChanges({ attention_types: [[['global', 'sparse'], 2]] })),
      'ERR_GPTNEO_BAD_CONFIG', /attention_types\[0\]\[0\]/);
    assertThrowsWith(() => parseConfig(withChanges({ attention_types: [[['global', 'local'], 0]] })),
      'ERR_GPTNEO_BAD_CONFIG', /Expected positive integer for attention_types\[0\]\[1\] but received 0/);
    assertThrowsWith(() => parseConfig(withChanges({ attention_types: undefined, attention_layers: undefined })),
      'ERR_GPTNEO_BAD_CONFIG', /missing attention_types/);
  });

  it('rejects hidden_size not divisible by num_heads', () => {
    assertThrowsWith(() => parseConfig(withChanges({ num_heads: 5 })), 'ERR_GPTNEO_BAD_CONFIG',
      /hidden_size 64 is not divisible by num_heads 5/);
  });

  it('rejects invalid dimensions, naming the field and the value', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['vocab_size', -1, /Expected positive integer for vocab_size but received -1/],
      ['hidden_size', '64', /Expected positive integer for hidden_size but received "64"/],
      ['num_layers', 0, /Expected positive integer for num_layers but received 0/],
      ['num_heads', 1.5, /Expected positive integer for num_heads but received 1.5/],
      ['max_position_embeddings', undefined, /Expected positive integer for max_position_embeddings but received undefined/],
      ['intermediate_size', -4, /Expected positive integer for intermediate_size but received -4/],
      ['window_size', 0, /Expected positive integer for window_size but received 0/],
      ['layer_norm_epsilon', 0, /Expected finite number > 0 for layer_norm_epsilon but received 0/],
      ['layer_norm_epsilon', -1e-5, /for layer_norm_epsilon but received -0.00001/],
      ['bos_token_id', -1, /Expected non-negative integer for bos_token_id but received -1/],
      ['tie_word_embeddings', 'yes', /Expected boolean for tie_word_embeddings but received "yes"/],
    ];
    for (const [field, value, message] of cases) {
      assertThrowsWith(() => parseConfig(withChanges({ [field]: value })), 'ERR_GPTNEO_BAD_CONFIG', message);
    }
  });
});
