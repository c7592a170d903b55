/**
 * GPT-Neo model configuration: reads a Hugging Face `config.json` (GPTNeoConfig field names) and
 * turns it into a validated, camel-cased {@link GptNeoConfig}. Every field the forward pass depends
 * on is checked here, so that native code only ever sees consistent dimensions.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GptNeoError } from '../errors.js';
import { describe } from '../validate.js';

export type AttentionKind = 'global' | 'local';

/** A validated GPT-Neo configuration (the subset of GPTNeoConfig the model uses). */
export interface GptNeoConfig {
  modelType: 'gpt_neo';
  vocabSize: number;
  maxPositionEmbeddings: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** hiddenSize / numHeads. */
  headDim: number;
  /** MLP width; `intermediate_size: null` in config.json means 4 * hiddenSize. */
  intermediateSize: number;
  /** Local layers let query i see keys j with i - windowSize < j <= i. */
  windowSize: number;
  layerNormEpsilon: number;
  /** One entry per layer: `attention_types` expanded. */
  attentionLayers: AttentionKind[];
  activationFunction: 'gelu_new';
  bosTokenId: number;
  eosTokenId: number;
  /** Whether lm_head shares wte's weights (true unless config.json says otherwise). */
  tieWordEmbeddings: boolean;
  /** The parsed config.json as it was, for fields this interface does not model. */
  raw: Record<string, unknown>;
}

/** GPTNeoConfig defaults (transformers) for the optional fields. */
const DEFAULT_TOKEN_ID = 50256;
const DEFAULT_WINDOW_SIZE = 256;
const DEFAULT_LAYER_NORM_EPSILON = 1e-5;
const DEFAULT_ACTIVATION = 'gelu_new';

function badConfig(source: string, message: string): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_BAD_CONFIG', `${source}: ${message}`,
    { hint: 'config.json must be a Hugging Face GPTNeoConfig saved by save_pretrained()' });
}

function expectField(source: string, field: string, value: unknown, expected: string, ok: boolean): void {
  if (!ok) throw badConfig(source, `Expected ${expected} for ${field} but received ${describe(value)}`);
}

function positiveInteger(source: string, json: Record<string, unknown>, field: string): number {
  const value = json[field];
  expectField(source, field, value, 'positive integer',
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 1);
  return value as number;
}

function tokenId(source: string, json: Record<string, unknown>, field: string): number {
  const value = json[field] ?? DEFAULT_TOKEN_ID;
  expectField(source, field, value, 'non-negative integer',
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0);
  return value as number;
}

function checkModelType(source: string, json: Record<string, unknown>): void {
  const modelType = json.model_type;
  const architectures = json.architectures;
  if (modelType === 'gpt_neo') return;
  if (modelType === undefined && Array.isArray(architectures) && architectures.includes('GPTNeoForCausalLM')) return;
  const found = modelType !== undefined
    ? `model_type ${describe(modelType)}`
    : `no model_type and architectures ${Array.isArray(architectures) ? JSON.stringify(architectures) : describe(architectures)}`;
  throw new GptNeoError('ERR_GPTNEO_UNSUPPORTED_MODEL',
    `${source}: expected a GPT-Neo model (model_type "gpt_neo") but found ${found}`,
    { hint: 'gpt-neo-node runs only GPTNeoForCausalLM checkpoints (EleutherAI/gpt-neo-125m, -1.3B, -2.7B and fine-tunes)' });
}

function isAttentionKind(value: unknown): value is AttentionKind {
  return value === 'global' || value === 'local';
}

/**
 * Expands `attention_types` ([[patternList, repeat], …]) the way GPTNeoConfig does, after checking
 * that the expansion has exactly num_layers entries (checked first, so a huge repeat costs nothing).
 */
function expandAttentionTypes(source: string, value: unknown, numLayers: number): AttentionKind[] {
  expectField(source, 'attention_types', value, 'array of [pattern, repeat] pairs', Array.isArray(value));
  const pairs = (value as unknown[]).map((entry, i): [AttentionKind[], number] => {
    const field = `attention_types[${i}]`;
    expectField(source, field, entry, '[pattern, repeat] pair', Array.isArray(entry) && entry.length === 2);
    const [pattern, repeat] = entry as unknown[];
    expectField(source, `${field}[0]`, pattern, 'non-empty array of "global"/"local"',
      Array.isArray(pattern) && pattern.length > 0 && pattern.every(isAttentionKind));
    expectField(source, `${field}[1]`, repeat, 'positive integer',
      typeof repeat === 'number' && Number.isSafeInteger(repeat) && repeat >= 1);
    return [pattern as AttentionKind[], repeat as number];
  });
  const total = pairs.reduce((sum, [pattern, repeat]) => sum + pattern.length * repeat, 0);
  if (total !== numLayers) {
    throw badConfig(source, `attention_types expands to ${total} layers but num_layers is ${numLayers}`);
  }
  return pairs.flatMap(([pattern, repeat]) => Array.from({ length: repeat }, () => pattern).flat());
}

function attentionLayers(source: string, json: Record<string, unknown>, numLayers: number): AttentionKind[] {
  const fromTypes = json.attention_types === undefined ? undefined
    : expandAttentionTypes(source, json.attention_types, numLayers);
  const fromLayers = json.attention_layers;
  if (fromLayers === undefined) {
    if (!fromTypes) throw badConfig(source, 'missing attention_types (or attention_layers): each layer must be "global" or "local"');
    return fromTypes;
  }
  expectField(source, 'attention_layers', fromLayers, 'array of "global"/"local"',
    Array.isArray(fromLayers) && fromLayers.every(isAttentionKind));
  const layers = [...(fromLayers as AttentionKind[])];
  if (fromTypes && fromTypes.join() !== layers.join()) {
    throw badConfig(source, `attention_layers ${JSON.stringify(layers)} disagrees with attention_types, ` +
      `which expands to ${JSON.stringify(fromTypes)}`);
  }
  if (layers.length !== numLayers) {
    throw badConfig(source, `attention_layers has ${layers.length} entries but num_layers is ${numLayers}`);
  }
  return layers;
}

/**
 * Validates a parsed Hugging Face GPT-Neo `config.json`.
 * @param json the parsed JSON
 * @param source where it came from, used in error messages
 * @throws GptNeoError ERR_GPTNEO_UNSUPPORTED_MODEL for another architecture or activation,
 *   ERR_GPTNEO_BAD_CONFIG (naming the field and value) for anything invalid
 */
export function parseConfig(json: unknown, source = 'config.json'): GptNeoConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw badConfig(source, `Expected a JSON object but received ${describe(json)}`);
  }
  const raw = json as Record<string, unknown>;
  checkModelType(source, raw);

  const activation = raw.activation_function ?? DEFAULT_ACTIVATION;
  if (activation !== 'gelu_new') {
    throw new GptNeoError('ERR_GPTNEO_UNSUPPORTED_MODEL',
      `${source}: activation_function ${describe(activation)} is not supported; only "gelu_new" is`);
  }

  const vocabSize = positiveInteger(source, raw, 'vocab_size');
  const maxPositionEmbeddings = positiveInteger(source, raw, 'max_position_embeddings');
  const hiddenSize = positiveInteger(source, raw, 'hidden_size');
  const numLayers = positiveInteger(source, raw, 'num_layers');
  const numHeads = positiveInteger(source, raw, 'num_heads');
  if (hiddenSize % numHeads !== 0) {
    throw badConfig(source, `hidden_size ${hiddenSize} is not divisible by num_heads ${numHeads}`);
  }
  const intermediateSize = raw.intermediate_size === null || raw.intermediate_size === undefined
    ? 4 * hiddenSize : positiveInteger(source, raw, 'intermediate_size');
  const windowSize = raw.window_size === undefined ? DEFAULT_WINDOW_SIZE : positiveInteger(source, raw, 'window_size');

  const eps = raw.layer_norm_epsilon ?? DEFAULT_LAYER_NORM_EPSILON;
  expectField(source, 'layer_norm_epsilon', eps, 'finite number > 0',
    typeof eps === 'number' && Number.isFinite(eps) && eps > 0);

  const tie = raw.tie_word_embeddings ?? true;
  expectField(source, 'tie_word_embeddings', tie, 'boolean', typeof tie === 'boolean');

  return {
    modelType: 'gpt_neo',
    vocabSize,
    maxPositionEmbeddings,
    hiddenSize,
    numLayers,
    numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize,
    windowSize,
    layerNormEpsilon: eps as number,
    attentionLayers: attentionLayers(source, raw, numLayers),
    activationFunction: 'gelu_new',
    bosTokenId: tokenId(source, raw, 'bos_token_id'),
    eosTokenId: tokenId(source, raw, 'eos_token_id'),
    tieWordEmbeddings: tie as boolean,
    raw,
  };
}

/**
 * Reads and validates `<dir>/config.json`.
 * @throws GptNeoError ERR_GPTNEO_FILE_NOT_FOUND when the file is missing, ERR_GPTNEO_IO when it
 *   cannot be read, ERR_GPTNEO_BAD_CONFIG when it is not valid JSON, and whatever {@link parseConfig} throws
 */
export async function readConfig(dir: string): Promise<GptNeoConfig> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND', `No config.json in ${dir}`,
        { hint: 'a model directory needs config.json and model.safetensors', cause: e });
    }
    throw new GptNeoError('ERR_GPTNEO_IO', `Cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badConfig(path, `not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(json, path);
}
