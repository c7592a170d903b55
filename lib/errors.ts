/**
 * The one error class of the library. Every failure a user can cause or meet carries a stable
 * `code` (ERR_GPTNEO_…) to branch on, and usually a `hint` that says what to do about it.
 * Native errors arrive with the same codes (csrc/core/status.h).
 */
export type GptNeoErrorCode =
  | 'ERR_GPTNEO_INVALID_ARGUMENT'
  | 'ERR_GPTNEO_FILE_NOT_FOUND'
  | 'ERR_GPTNEO_BAD_CONFIG'
  | 'ERR_GPTNEO_BAD_CHECKPOINT'
  | 'ERR_GPTNEO_UNSUPPORTED_MODEL'
  | 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE'
  | 'ERR_GPTNEO_CONTEXT_OVERFLOW'
  | 'ERR_GPTNEO_TOKENIZER'
  | 'ERR_GPTNEO_NO_TOKENIZER'
  | 'ERR_GPTNEO_DISPOSED'
  | 'ERR_GPTNEO_ABORTED'
  | 'ERR_GPTNEO_NATIVE_LOAD'
  | 'ERR_GPTNEO_DEVICE_UNAVAILABLE'
  | 'ERR_GPTNEO_HUB'
  | 'ERR_GPTNEO_HUB_NOT_FOUND'
  | 'ERR_GPTNEO_HUB_UNAUTHORIZED'
  | 'ERR_GPTNEO_HUB_UNREACHABLE'
  | 'ERR_GPTNEO_HUB_OFFLINE'
  | 'ERR_GPTNEO_INTEGRITY'
  | 'ERR_GPTNEO_IO'
  | 'ERR_GPTNEO_OUT_OF_MEMORY'
  | 'ERR_GPTNEO_UNSUPPORTED'
  | 'ERR_GPTNEO_CUDA'
  | 'ERR_GPTNEO_BUSY'
  | 'ERR_GPTNEO_INTERNAL';

export interface GptNeoErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class GptNeoError extends Error {
  readonly code: GptNeoErrorCode;
  readonly hint: string | undefined;

  constructor(code: GptNeoErrorCode, message: string, options: GptNeoErrorOptions = {}) {
    super(options.hint ? `${message}\n  hint: ${options.hint}` : message,
      options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GptNeoError';
    this.code = code;
    this.hint = options.hint;
  }
}

export function isGptNeoError(e: unknown, code?: GptNeoErrorCode): e is GptNeoError {
  return e instanceof GptNeoError && (code === undefined || e.code === code);
}

/** Re-throws an error from the native addon as a GptNeoError with the same code. */
export function fromNativeError(e: unknown): GptNeoError {
  if (e instanceof GptNeoError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' && err.code.startsWith('ERR_GPTNEO_')
    ? (err.code as GptNeoErrorCode) : 'ERR_GPTNEO_INTERNAL';
  const message = typeof err?.message === 'string' ? err.message : String(e);
  return new GptNeoError(code, message, { cause: e });
}
