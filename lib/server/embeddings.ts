/**
 * POST /v1/embeddings: one vector per input text, pooled over the model's final hidden states
 * (after ln_f) and L2-normalised, as `float` arrays or `base64` (the little-endian float32 bytes,
 * as OpenAI encodes them; the official client asks for base64 by default).
 */
import { endianness } from 'node:os';
import type { RequestContext } from './context.js';
import { readJsonObject } from './body.js';
import { HttpError, badParam, checkParam } from './errors.js';
import { checkModelField, field, rejectUnknownFields } from './fields.js';
import { sendJson } from './respond.js';
import { expectOneOf, expectString } from '../validate.js';

/** Most inputs one request may embed. */
export const MAX_EMBEDDING_INPUTS = 2048;

const FIELDS = ['model', 'input', 'encoding_format', 'dimensions', 'user'] as const;

export async function handleEmbeddings(ctx: RequestContext): Promise<void> {
  const { state } = ctx;
  const body = await readJsonObject(ctx.req, state.options.maxBodyBytes);
  rejectUnknownFields(body, FIELDS);
  checkModelField(body, state.options.modelId);
  const user = field(body, 'user');
  if (user !== undefined) checkParam('user', () => expectString('user', user));
  const format = field(body, 'encoding_format') === undefined ? 'float'
    : checkParam('encoding_format', () => expectOneOf('encoding_format', body.encoding_format, ['float', 'base64']));
  const hidden = state.model.config.hiddenSize;
  const dimensions = field(body, 'dimensions');
  if (dimensions !== undefined && dimensions !== hidden) {
    throw badParam('dimensions', `This model's embeddings have ${hidden} dimensions; dimensions must be ${hidden} or absent`,
      'unsupported_value');
  }
  const texts = parseInput(field(body, 'input'));
  const promptTokens = countTokens(ctx, texts);

  const release = await state.admission.acquire(ctx.signal);
  let vectors: Float32Array[];
  try {
    vectors = await state.model.embed(texts, { pooling: state.options.embeddingPooling });
  } finally {
    release();
  }
  state.metrics.promptTokens.inc({}, promptTokens);
  sendJson(ctx.res, 200, {
    object: 'list',
    data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? toBase64(v) : Array.from(v) })),
    model: state.options.modelId,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
}

function parseInput(v: unknown): string[] {
  if (typeof v === 'string') {
    if (v === '') throw badParam('input', "input must not be an empty string");
    return [v];
  }
  if (Array.isArray(v) && v.length > 0 && v.length <= MAX_EMBEDDING_INPUTS && v.every((s) => typeof s === 'string' && s !== '')) {
    return v as string[];
  }
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' || Array.isArray(x))) {
    throw badParam('input', 'Token-id inputs are not supported for embeddings; send text', 'unsupported_value');
  }
  throw badParam('input', `Expected a non-empty string or an array of 1 to ${MAX_EMBEDDING_INPUTS} non-empty strings for input`);
}

/** Token counts for usage, and the context check done before any work starts. */
function countTokens(ctx: RequestContext, texts: string[]): number {
  const { tokenizer, contextSize } = ctx.state.model;
  if (!tokenizer) throw new HttpError(400, 'This model has no tokenizer, so it cannot embed text', { param: 'input' });
  let total = 0;
  texts.forEach((t, i) => {
    const n = tokenizer.encode(t).length;
    if (n > contextSize) {
      throw new HttpError(400, `Input ${i} has ${n} tokens, more than this model's maximum context length of ${contextSize}`,
        { param: 'input', code: 'context_length_exceeded' });
    }
    total += n;
  });
  return total;
}

/** Base64 of the vector's float32 values in little-endian byte order. */
export function toBase64(v: Float32Array): string {
  if (endianness() === 'LE') return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const bytes = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}
