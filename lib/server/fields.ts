/** Checks shared by the request bodies of several routes. */
import { HttpError, badParam } from './errors.js';

/** Rejects fields the route does not know, as OpenAI does ("Unrecognized request argument"). */
export function rejectUnknownFields(body: Record<string, unknown>, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) {
      throw badParam(prefix + key, `Unrecognized request argument supplied: ${prefix}${key}`, 'unknown_parameter');
    }
  }
}

/** A field's value, with JSON null read as absent (OpenAI accepts null for optional fields). */
export function field(body: Record<string, unknown>, key: string): unknown {
  const v = body[key];
  return v === null ? undefined : v;
}

/**
 * The `model` field: optional here, but when given it must name the served model (404 otherwise,
 * as OpenAI answers for an unknown model).
 */
export function checkModelField(body: Record<string, unknown>, modelId: string): void {
  const model = field(body, 'model');
  if (model === undefined) return;
  if (typeof model !== 'string') throw badParam('model', `Expected string for model but received ${typeof model}`);
  if (model !== modelId) {
    throw new HttpError(404, `The model '${model}' does not exist; this server serves '${modelId}'`,
      { param: 'model', code: 'model_not_found' });
  }
}

/** Throws a 400 when a field has a value other than the one this server supports. */
export function onlyValue(body: Record<string, unknown>, key: string, supported: unknown, why: string): void {
  const v = field(body, key);
  if (v !== undefined && v !== supported) {
    throw badParam(key, `${key} must be ${JSON.stringify(supported)} (${why}) but received ${JSON.stringify(v)}`, 'unsupported_value');
  }
}
