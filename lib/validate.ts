/**
 * Argument checks with one message style:
 *   "Expected positive integer for maxNewTokens but received -1"
 * Every public entry point validates with these before any native call.
 */
import { GptNeoError } from './errors.js';

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}

export function invalid(expected: string, name: string, value: unknown): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
    `Expected ${expected} for ${name} but received ${describe(value)}`);
}

export function expectInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const what = min === 1 && max === Number.MAX_SAFE_INTEGER ? 'positive integer'
      : min === 0 && max === Number.MAX_SAFE_INTEGER ? 'non-negative integer'
      : `integer in [${min}, ${max}]`;
    throw invalid(what, name, value);
  }
  return value;
}

export const expectPositiveInteger = (name: string, value: unknown): number => expectInteger(name, value, 1);
export const expectNonNegativeInteger = (name: string, value: unknown): number => expectInteger(name, value, 0);

export function expectNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    const range = min === -Infinity && max === Infinity ? 'number'
      : max === Infinity ? `number >= ${min}` : min === -Infinity ? `number <= ${max}` : `number in [${min}, ${max}]`;
    throw invalid(range, name, value);
  }
  return value;
}

export function expectOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`one of ${allowed.map((a) => `'${a}'`).join(', ')}`, name, value);
  }
  return value as T;
}

export function expectBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid('boolean', name, value);
  return value;
}

export function expectString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid('string', name, value);
  return value;
}

export function expectObject(name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('object', name, value);
  return value as Record<string, unknown>;
}

/** Rejects keys an options object does not define (catches typos like `maxTokens`). */
export function expectKnownKeys(name: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key) && value[key] !== undefined) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
        `Unknown option ${name}.${key}; known options are ${known.join(', ')}`);
    }
  }
}
