/**
 * Generation options: what a caller may pass to `generate`/`stream`, their defaults, and the one
 * validator that turns them into `NormalizedSamplingOptions` (every field present and checked).
 */
import { GptNeoError } from '../errors.js';
import {
  describe, expectBoolean, expectInteger, expectKnownKeys, expectNumber, expectObject,
  expectPositiveInteger, invalid,
} from '../validate.js';
import { MAX_SEED, randomSeed } from './rng.js';

/** Options a caller may pass; every field is optional. */
export interface SamplingOptions {
  /** Softmax temperature, >= 0. 0 means greedy decoding (argmax). Default 1 (as Hugging Face and OpenAI). */
  temperature?: number;
  /** Keep only the k most likely tokens (and any tied with the k-th); integer >= 0, 0 = off. Default 0. */
  topK?: number;
  /**
   * Nucleus sampling: keep the smallest set of most likely tokens whose probability sums to at least
   * topP. In [0, 1]; 1 = off (default); 0 keeps only the most likely token.
   */
  topP?: number;
  /** Drop tokens whose probability is below minP × the top token's probability. In [0, 1]; 0 = off (default). */
  minP?: number;
  /** Locally typical sampling (Meister et al.; Hugging Face `typical_p`). In (0, 1]; 1 = off (default). */
  typicalP?: number;
  /**
   * Hugging Face repetition penalty, > 0; 1 = off (default). For every distinct token id in the prompt
   * and the generated tokens: logit < 0 ? logit × penalty : logit / penalty.
   */
  repetitionPenalty?: number;
  /**
   * OpenAI presence penalty in [-2, 2]; default 0. Subtracted once from the logit of every token that
   * has been generated at least once. Only generated tokens count, not the prompt.
   */
  presencePenalty?: number;
  /**
   * OpenAI frequency penalty in [-2, 2]; default 0. Subtracted `count` times from the logit of a token
   * generated `count` times so far. Only generated tokens count, not the prompt.
   */
  frequencyPenalty?: number;
  /** Added to the logits of the given token ids (keys), each in [-100, 100]. -100 bans in practice, +100 forces. */
  logitBias?: Record<number | string, number>;
  /** Integer in [0, 2^53 − 1] for reproducible sampling. Absent: a random seed (reported in the normalized options). */
  seed?: number;
  /** Most tokens to generate, positive integer. Absent: until EOS, a stop condition or the context is full. */
  maxNewTokens?: number;
  /** Stop when the generated text contains one of these (at most 16 non-empty strings); the stop string is not returned. */
  stop?: string | readonly string[];
  /** Stop when one of these token ids is generated. */
  stopTokenIds?: readonly number[];
  /** Keep generating after the model's end-of-sequence token. Default false. */
  ignoreEos?: boolean;
  /** Aborts the request; it then finishes with finishReason 'abort'. */
  signal?: AbortSignal;
}

/** The validated options with every default filled in. */
export interface NormalizedSamplingOptions {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly typicalP: number;
  readonly repetitionPenalty: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  /** Token id → bias; empty when none. */
  readonly logitBias: ReadonlyMap<number, number>;
  readonly seed: number;
  readonly maxNewTokens: number | undefined;
  readonly stop: readonly string[];
  readonly stopTokenIds: readonly number[];
  readonly ignoreEos: boolean;
  readonly signal: AbortSignal | undefined;
}

/** Every option name `validateSamplingOptions` accepts; anything else is rejected as a likely typo. */
export const SAMPLING_OPTION_KEYS = [
  'temperature', 'topK', 'topP', 'minP', 'typicalP', 'repetitionPenalty', 'presencePenalty',
  'frequencyPenalty', 'logitBias', 'seed', 'maxNewTokens', 'stop', 'stopTokenIds', 'ignoreEos', 'signal',
] as const satisfies readonly (keyof SamplingOptions)[];

export const DEFAULT_TEMPERATURE = 1;
/** The most stop strings one request may give. */
export const MAX_STOP_STRINGS = 16;
export const MAX_LOGIT_BIAS = 100;
export const MAX_PENALTY = 2;

export interface SamplingContext {
  /** Number of rows of the model's logits; token ids are in [0, vocabSize). */
  vocabSize: number;
}

const isPresent = (value: unknown): boolean => value !== undefined;

function expectFiniteAtLeast(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw invalid(`finite number >= ${min}`, name, value);
  return value;
}

function expectPositiveFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid('finite number > 0', name, value);
  return value;
}

function expectHalfOpenUnit(name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || value > 1) throw invalid('number in (0, 1]', name, value);
  return value;
}

function expectTokenId(name: string, value: unknown, vocabSize: number): number {
  return expectInteger(name, value, 0, vocabSize - 1);
}

function normalizeLogitBias(value: unknown, vocabSize: number): Map<number, number> {
  const bias = new Map<number, number>();
  if (!isPresent(value)) return bias;
  if (value instanceof Map) throw invalid('object mapping token ids to numbers', 'logitBias', value);
  const record = expectObject('logitBias', value);
  for (const [key, raw] of Object.entries(record)) {
    if (!/^(0|[1-9][0-9]*)$/.test(key) || Number(key) >= vocabSize) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
        `Expected token id in [0, ${vocabSize - 1}] for logitBias key but received ${describe(key)}`);
    }
    bias.set(Number(key), expectNumber(`logitBias[${key}]`, raw, -MAX_LOGIT_BIAS, MAX_LOGIT_BIAS));
  }
  return bias;
}

function normalizeStop(value: unknown): string[] {
  if (!isPresent(value)) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) throw invalid('string or array of strings', 'stop', value);
  if (list.length > MAX_STOP_STRINGS) throw invalid(`at most ${MAX_STOP_STRINGS} stop strings`, 'stop', value);
  return Array.from(list as unknown[], (s, i) => { // Array.from visits holes of sparse arrays too
    if (typeof s !== 'string' || s.length === 0) throw invalid('non-empty string', typeof value === 'string' ? 'stop' : `stop[${i}]`, s);
    return s;
  });
}

function normalizeStopTokenIds(value: unknown, vocabSize: number): number[] {
  if (!isPresent(value)) return [];
  if (!Array.isArray(value)) throw invalid('array of token ids', 'stopTokenIds', value);
  return Array.from(value as unknown[], (id, i) => expectTokenId(`stopTokenIds[${i}]`, id, vocabSize));
}

function normalizeSignal(value: unknown): AbortSignal | undefined {
  if (!isPresent(value)) return undefined;
  if (!(value instanceof AbortSignal)) throw invalid('AbortSignal', 'signal', value);
  return value;
}

/**
 * Checks every option (throws GptNeoError ERR_GPTNEO_INVALID_ARGUMENT naming the option) and fills in
 * the defaults. `undefined` values count as absent. A missing seed is replaced by a random one.
 */
export function validateSamplingOptions(options: unknown, context: SamplingContext): NormalizedSamplingOptions {
  const vocabSize = expectPositiveInteger('vocabSize', context?.vocabSize);
  const opts = options === undefined ? {} : expectObject('options', options);
  expectKnownKeys('options', opts, SAMPLING_OPTION_KEYS);
  const get = <T>(name: string, check: (name: string, value: unknown) => T, fallback: T): T =>
    isPresent(opts[name]) ? check(name, opts[name]) : fallback;

  return {
    temperature: get('temperature', (n, v) => expectFiniteAtLeast(n, v, 0), DEFAULT_TEMPERATURE),
    topK: get('topK', (n, v) => expectInteger(n, v, 0), 0),
    topP: get('topP', (n, v) => expectNumber(n, v, 0, 1), 1),
    minP: get('minP', (n, v) => expectNumber(n, v, 0, 1), 0),
    typicalP: get('typicalP', expectHalfOpenUnit, 1),
    repetitionPenalty: get('repetitionPenalty', expectPositiveFinite, 1),
    presencePenalty: get('presencePenalty', (n, v) => expectNumber(n, v, -MAX_PENALTY, MAX_PENALTY), 0),
    frequencyPenalty: get('frequencyPenalty', (n, v) => expectNumber(n, v, -MAX_PENALTY, MAX_PENALTY), 0),
    logitBias: normalizeLogitBias(opts.logitBias, vocabSize),
    seed: get('seed', (n, v) => expectInteger(n, v, 0, MAX_SEED), undefined) ?? randomSeed(),
    maxNewTokens: get('maxNewTokens', expectPositiveInteger, undefined),
    stop: normalizeStop(opts.stop),
    stopTokenIds: normalizeStopTokenIds(opts.stopTokenIds, vocabSize),
    ignoreEos: get('ignoreEos', expectBoolean, false),
    signal: normalizeSignal(opts.signal),
  };
}
