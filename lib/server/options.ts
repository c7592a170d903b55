/**
 * What createServer accepts, its defaults, and the model surface the server uses.
 */
import type { GptNeoModel } from '../model/model.js';
import { expectInteger, expectKnownKeys, expectObject, expectOneOf, expectString, invalid } from '../validate.js';

/** The part of GptNeoModel the server calls (tests may wrap a model with the same surface). */
export type ServedModel = Pick<GptNeoModel, 'config' | 'tokenizer' | 'contextSize' | 'stream' | 'embed' | 'stats'>;

export type EmbeddingPooling = 'mean' | 'last' | 'first';

export interface ServerOptions {
  /** The id clients name the model by (`model` in requests, GET /v1/models). Default 'gpt-neo'. */
  modelId?: string;
  /** When set, every route but /health needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Requests handed to the model at once (the engine batches them). Default 32. */
  maxConcurrent?: number;
  /** Requests waiting for a slot beyond maxConcurrent; more get 429. Default 64. */
  maxQueue?: number;
  /** Largest request body in bytes; larger gets 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** How long close() waits for in-flight requests before aborting them, in ms. Default 30000. */
  drainTimeoutMs?: number;
  /** How /v1/embeddings pools a text's hidden states. Default 'mean'. */
  embeddingPooling?: EmbeddingPooling;
  /** Called with unexpected failures (those answered 500); the CLI logs them. Default: ignore. */
  onError?: (error: unknown) => void;
}

export type ResolvedServerOptions = Required<Omit<ServerOptions, 'apiKey'>> & { apiKey: string | undefined };

const KEYS = ['modelId', 'apiKey', 'maxConcurrent', 'maxQueue', 'maxBodyBytes', 'drainTimeoutMs', 'embeddingPooling', 'onError'] as const;

/** Validates options (typed errors on bad input) and fills in the defaults. */
export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  const o = expectObject('options', options) as ServerOptions;
  expectKnownKeys('options', o as Record<string, unknown>, KEYS);
  const apiKey = o.apiKey === undefined ? undefined : nonEmptyString('apiKey', o.apiKey);
  return {
    modelId: o.modelId === undefined ? 'gpt-neo' : nonEmptyString('modelId', o.modelId),
    apiKey,
    maxConcurrent: o.maxConcurrent === undefined ? 32 : expectInteger('maxConcurrent', o.maxConcurrent, 1),
    maxQueue: o.maxQueue === undefined ? 64 : expectInteger('maxQueue', o.maxQueue, 0),
    maxBodyBytes: o.maxBodyBytes === undefined ? 1 << 20 : expectInteger('maxBodyBytes', o.maxBodyBytes, 1),
    drainTimeoutMs: o.drainTimeoutMs === undefined ? 30_000 : expectInteger('drainTimeoutMs', o.drainTimeoutMs, 0, 2 ** 31 - 1),
    embeddingPooling: o.embeddingPooling === undefined ? 'mean'
      : expectOneOf('embeddingPooling', o.embeddingPooling, ['mean', 'last', 'first']),
    onError: o.onError === undefined ? () => {} : expectFunction('onError', o.onError),
  };
}

function nonEmptyString(name: string, value: unknown): string {
  if (expectString(name, value) === '') throw invalid('non-empty string', name, value);
  return value as string;
}

function expectFunction<F>(name: string, value: F): F {
  if (typeof value !== 'function') throw invalid('function', name, value);
  return value;
}
