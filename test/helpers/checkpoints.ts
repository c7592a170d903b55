// Helpers that write valid and deliberately broken checkpoints into temporary directories.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGptNeoError, type GptNeoErrorCode } from '../../lib/errors.js';
import { parseConfig } from '../../lib/model/config.js';
import { SAFETENSORS_DTYPE_SIZES, type SafetensorsDtype } from '../../lib/model/safetensors.js';
import { expectedGptNeoTensors } from '../../lib/model/weights.js';
import { fixture } from './paths.js';

/** Temporary directories for one test file; call cleanup() in an after() hook. */
export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix = 'gpt-neo-ckpt-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  }
}

/** The parsed config.json of a fixture model ('tiny-neo' or 'tiny-neo-gpt2vocab'). */
export async function fixtureConfigJson(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(fixture(name, 'config.json'), 'utf8')) as Record<string, unknown>;
}

export async function writeConfigJson(dir: string, json: unknown): Promise<void> {
  await writeFile(join(dir, 'config.json'), typeof json === 'string' ? json : JSON.stringify(json, null, 2));
}

/** Copies a fixture's config.json and model.safetensors into dir. */
export async function copyFixtureModel(name: string, dir: string): Promise<void> {
  for (const file of ['config.json', 'model.safetensors']) await copyFile(fixture(name, file), join(dir, file));
}

/**
 * Writes a safetensors file byte by byte as given: the 8-byte size prefix (headerSize, or the
 * header's real length), the header (a Buffer or string is written verbatim, anything else as JSON),
 * then data.
 */
export async function writeRawSafetensors(path: string, header: unknown, data: Buffer | number = 0,
  headerSize?: bigint): Promise<void> {
  const headerBytes = Buffer.isBuffer(header) ? header
    : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerSize ?? BigInt(headerBytes.length));
  const body = typeof data === 'number' ? Buffer.alloc(data) : data;
  await writeFile(path, Buffer.concat([prefix, headerBytes, body]));
}

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

/** Entries for every tensor of a config (HF names with `transformer.`), all of one dtype. */
export function gptNeoEntries(configJson: unknown, dtype: SafetensorsDtype = 'F32', lmHead = false): TensorEntry[] {
  const config = parseConfig(configJson);
  return expectedGptNeoTensors(config, lmHead).map(({ name, shape }) => ({
    name: name === 'lm_head.weight' ? name : `transformer.${name}`, dtype, shape,
  }));
}

/**
 * Writes a well-formed safetensors file holding these entries packed back to back, with zero data.
 * Returns the header written, so a test can compare offsets.
 */
export async function writeZeroSafetensors(path: string, entries: readonly TensorEntry[]): Promise<Record<string, unknown>> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const { name, dtype, shape } of entries) {
    const nbytes = shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_SIZES[dtype];
    header[name] = { dtype, shape, data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  await writeRawSafetensors(path, header, offset);
  return header;
}

/** Asserts that a promise rejects with a GptNeoError of this code whose message matches. */
export async function assertRejectsWith(promise: Promise<unknown>, code: GptNeoErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isGptNeoError(e), `expected a GptNeoError but got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

/** Asserts that fn throws a GptNeoError of this code whose message matches. */
export function assertThrowsWith(fn: () => unknown, code: GptNeoErrorCode, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isGptNeoError(e), `expected a GptNeoError but got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}
