/**
 * HTTP errors in OpenAI's JSON shape: `{ error: { message, type, param, code } }`, and the mapping
 * from library errors (GptNeoError codes) to HTTP statuses.
 */
import { isGptNeoError, type GptNeoErrorCode } from '../errors.js';

/** OpenAI's error `type` values that this server uses. */
export type OpenAiErrorType = 'invalid_request_error' | 'authentication_error' | 'rate_limit_error' | 'server_error';

export interface OpenAiErrorBody {
  error: { message: string; type: OpenAiErrorType; param: string | null; code: string | null };
}

export interface HttpErrorDetails {
  type?: OpenAiErrorType;
  /** The request field at fault, e.g. 'max_tokens'. */
  param?: string;
  /** A stable machine-readable code, e.g. 'context_length_exceeded'. */
  code?: string;
  /** Extra response headers, e.g. Allow or Retry-After. */
  headers?: Record<string, string>;
}

/** An error that becomes an HTTP response with an OpenAI-style body. */
export class HttpError extends Error {
  readonly status: number;
  readonly type: OpenAiErrorType;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, details: HttpErrorDetails = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.type = details.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = details.param ?? null;
    this.code = details.code ?? null;
    this.headers = details.headers ?? {};
  }

  toBody(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 for one request field. */
export function badParam(param: string, message: string, code = 'invalid_value'): HttpError {
  return new HttpError(400, message, { param, code });
}

const STATUS_BY_CODE: Partial<Record<GptNeoErrorCode, { status: number; code: string }>> = {
  ERR_GPTNEO_INVALID_ARGUMENT: { status: 400, code: 'invalid_value' },
  ERR_GPTNEO_TOKEN_OUT_OF_RANGE: { status: 400, code: 'invalid_value' },
  ERR_GPTNEO_CONTEXT_OVERFLOW: { status: 400, code: 'context_length_exceeded' },
  ERR_GPTNEO_TOKENIZER: { status: 400, code: 'invalid_value' },
  ERR_GPTNEO_NO_TOKENIZER: { status: 400, code: 'invalid_value' },
  ERR_GPTNEO_DISPOSED: { status: 503, code: 'model_unavailable' },
  ERR_GPTNEO_BUSY: { status: 503, code: 'server_busy' },
  ERR_GPTNEO_OUT_OF_MEMORY: { status: 503, code: 'out_of_memory' },
};

/**
 * Any thrown value as an HttpError: HttpErrors pass through, GptNeoErrors map by code (bad input is
 * a 400 naming `param`), anything else is a 500 that does not leak internals.
 */
export function toHttpError(e: unknown, param?: string): HttpError {
  if (e instanceof HttpError) return e;
  if (isGptNeoError(e)) {
    const mapped = STATUS_BY_CODE[e.code];
    if (mapped) return new HttpError(mapped.status, e.message, { param: mapped.status === 400 ? param : undefined, code: mapped.code });
    return new HttpError(500, `The model failed: ${e.message}`, { code: 'internal_error' });
  }
  return new HttpError(500, 'Internal server error', { code: 'internal_error' });
}

/** True for failures nobody planned for (answered 500), which the server reports to onError. */
export function isUnexpected(e: unknown): boolean {
  return !(e instanceof HttpError) && toHttpError(e).status === 500;
}

/**
 * Runs a field check from lib/validate.ts (which throws GptNeoError) and turns its failure into a
 * 400 that names the request field.
 */
export function checkParam<T>(param: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw toHttpError(e, param);
  }
}
