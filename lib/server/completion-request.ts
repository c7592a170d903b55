/**
 * POST /v1/completions bodies: OpenAI's fields checked one by one (a 400 names the field at fault)
 * and turned into token-id prompts and generate options. Prompts are tokenized and measured here,
 * before any generation starts, so one bad prompt of several fails the request without side effects.
 *
 * Extensions beyond OpenAI (as vLLM names them): top_k, min_p, repetition_penalty, ignore_eos.
 */
import type { GenerateOptions } from '../model/model.js';
import { MAX_SEED } from '../sampling/rng.js';
import {
  expectBoolean, expectInteger, expectNumber, expectObject, expectString, invalid,
} from '../validate.js';
import { HttpError, badParam, checkParam } from './errors.js';
import { checkModelField, field, onlyValue, rejectUnknownFields } from './fields.js';
import type { ServedModel } from './options.js';

/** Most prompts one request may batch. */
export const MAX_PROMPTS = 128;
/** Most stop strings, as OpenAI allows. */
export const MAX_STOP = 4;
/** max_tokens when the request does not say (OpenAI's default). */
export const DEFAULT_MAX_TOKENS = 16;

const FIELDS = [
  'model', 'prompt', 'max_tokens', 'temperature', 'top_p', 'n', 'stream', 'stream_options', 'logprobs', 'echo',
  'stop', 'presence_penalty', 'frequency_penalty', 'best_of', 'logit_bias', 'user', 'suffix', 'seed',
  'top_k', 'min_p', 'repetition_penalty', 'ignore_eos',
] as const;

export interface CompletionRequest {
  /** One token-id prompt per choice, in order. */
  prompts: number[][];
  /** Options for model.stream (without signal). */
  options: GenerateOptions;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with usage and no choices. */
  includeUsage: boolean;
}

export function parseCompletionRequest(body: Record<string, unknown>, model: ServedModel, modelId: string): CompletionRequest {
  rejectUnknownFields(body, FIELDS);
  checkModelField(body, modelId);
  onlyValue(body, 'n', 1, 'one completion per prompt; send the prompt again for more');
  onlyValue(body, 'best_of', 1, 'best_of needs log probabilities, which this server does not return');
  onlyValue(body, 'echo', false, 'the prompt is not echoed');
  onlyValue(body, 'logprobs', undefined, 'log probabilities are not returned');
  onlyValue(body, 'suffix', undefined, 'insertion is not supported');
  const user = field(body, 'user');
  if (user !== undefined) checkParam('user', () => expectString('user', user));

  const stream = optional(body, 'stream', (v) => expectBoolean('stream', v)) ?? false;
  const streamOptions = optional(body, 'stream_options', (v) => expectObject('stream_options', v));
  let includeUsage = false;
  if (streamOptions) {
    rejectUnknownFields(streamOptions, ['include_usage'], 'stream_options.');
    includeUsage = optional(streamOptions, 'include_usage', (v) => expectBoolean('stream_options.include_usage', v)) ?? false;
  }

  // max_tokens: absent → 16; null → as many as the context allows.
  const maxTokens = body.max_tokens === null ? undefined
    : optional(body, 'max_tokens', (v) => expectInteger('max_tokens', v, 1)) ?? DEFAULT_MAX_TOKENS;
  const options: GenerateOptions = {
    maxNewTokens: maxTokens,
    temperature: optional(body, 'temperature', (v) => expectNumber('temperature', v, 0, 2)),
    topP: optional(body, 'top_p', (v) => expectNumber('top_p', v, 0, 1)),
    presencePenalty: optional(body, 'presence_penalty', (v) => expectNumber('presence_penalty', v, -2, 2)),
    frequencyPenalty: optional(body, 'frequency_penalty', (v) => expectNumber('frequency_penalty', v, -2, 2)),
    seed: optional(body, 'seed', (v) => expectInteger('seed', v, 0, MAX_SEED)),
    topK: optional(body, 'top_k', (v) => (v === -1 ? 0 : expectInteger('top_k', v, 0))),
    minP: optional(body, 'min_p', (v) => expectNumber('min_p', v, 0, 1)),
    repetitionPenalty: optional(body, 'repetition_penalty', positiveNumber),
    ignoreEos: optional(body, 'ignore_eos', (v) => expectBoolean('ignore_eos', v)),
    stop: parseStop(field(body, 'stop')),
    logitBias: parseLogitBias(field(body, 'logit_bias'), model.config.vocabSize),
  };
  for (const key of Object.keys(options) as (keyof GenerateOptions)[]) if (options[key] === undefined) delete options[key];

  const prompts = parsePrompts(body.prompt, model);
  for (const ids of prompts) checkContext(ids.length, maxTokens, model.contextSize);
  return { prompts, options, stream, includeUsage };
}

function optional<T>(body: Record<string, unknown>, key: string, check: (v: unknown) => T): T | undefined {
  const v = field(body, key);
  return v === undefined ? undefined : checkParam(key, () => check(v));
}

function positiveNumber(v: unknown): number {
  if (typeof v !== 'number' || !(v > 0) || v === Infinity) throw invalid('positive number', 'repetition_penalty', v);
  return v;
}

function parseStop(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length > MAX_STOP || list.some((s) => typeof s !== 'string' || s === '')) {
    throw badParam('stop', `Expected a non-empty string or an array of at most ${MAX_STOP} non-empty strings for stop`);
  }
  return list.length === 0 ? undefined : list as string[];
}

function parseLogitBias(v: unknown, vocabSize: number): Record<string, number> | undefined {
  if (v === undefined) return undefined;
  const bias = checkParam('logit_bias', () => expectObject('logit_bias', v));
  for (const [key, value] of Object.entries(bias)) {
    const id = /^(0|[1-9]\d*)$/.test(key) ? Number(key) : NaN;
    if (!(id < vocabSize)) {
      throw badParam('logit_bias', `logit_bias keys must be token ids in [0, ${vocabSize}) but received ${JSON.stringify(key)}`);
    }
    checkParam('logit_bias', () => expectNumber(`logit_bias[${key}]`, value, -100, 100));
  }
  return Object.keys(bias).length === 0 ? undefined : bias as Record<string, number>;
}

/** prompt: a string, an array of strings, an array of token ids, or an array of token-id arrays. */
function parsePrompts(v: unknown, model: ServedModel): number[][] {
  if (v === undefined || v === null) throw badParam('prompt', 'prompt is required', 'missing_required_parameter');
  if (typeof v === 'string') return [encode(v, model)];
  if (!Array.isArray(v) || v.length === 0) {
    throw badParam('prompt', 'Expected a string, an array of strings, an array of token ids or an array of token-id arrays for prompt');
  }
  if (v.every((x) => typeof x === 'number')) return [tokenIds(v, model.config.vocabSize, 'prompt')];
  if (v.length > MAX_PROMPTS) throw badParam('prompt', `At most ${MAX_PROMPTS} prompts may be sent in one request, not ${v.length}`);
  return v.map((p, i) => {
    if (typeof p === 'string') return encode(p, model);
    if (Array.isArray(p) && p.length > 0) return tokenIds(p, model.config.vocabSize, `prompt[${i}]`);
    throw badParam('prompt', `Expected a string or a non-empty array of token ids for prompt[${i}]`);
  });
}

function encode(text: string, model: ServedModel): number[] {
  if (!model.tokenizer) throw badParam('prompt', 'This model has no tokenizer, so prompts must be token ids');
  const ids = model.tokenizer.encode(text);
  // An empty prompt starts a new document, as OpenAI does: the end-of-text token alone.
  return ids.length > 0 ? ids : [model.tokenizer.eosTokenId ?? model.config.eosTokenId];
}

function tokenIds(list: unknown[], vocabSize: number, name: string): number[] {
  for (let i = 0; i < list.length; i++) {
    const id = list[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw badParam('prompt', `Expected token ids in [0, ${vocabSize}) in ${name} but element ${i} is ${JSON.stringify(id)}`);
    }
  }
  return list as number[];
}

function checkContext(promptTokens: number, maxTokens: number | undefined, contextSize: number): void {
  const wanted = promptTokens + (maxTokens ?? 1);
  if (wanted <= contextSize) return;
  throw new HttpError(400,
    `This model's maximum context length is ${contextSize} tokens, however you requested ${wanted} tokens ` +
    `(${promptTokens} in your prompt; ${maxTokens ?? 1} for the completion). Please reduce your prompt or completion length.`,
    { param: maxTokens === undefined ? 'prompt' : 'max_tokens', code: 'context_length_exceeded' });
}
