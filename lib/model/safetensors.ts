/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian u64
 * header size N, N bytes of JSON describing each tensor (dtype, shape, data_offsets relative to the
 * end of the header), then the raw little-endian tensor data.
 *
 * The reader here parses and validates only the header; tensor bytes are left for the native loader
 * to mmap (it re-checks bounds). {@link readTensor} reads one tensor's bytes for tests and tools.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { GptNeoError } from '../errors.js';
import { describe, expectObject, invalid } from '../validate.js';
import { isLegacyAttentionBuffer } from './weights.js';

/** Every dtype the safetensors format defines, with its size in bytes. */
export const SAFETENSORS_DTYPE_SIZES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
} as const;

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_SIZES;
/** The dtypes a GPT-Neo weight may have. */
export type FloatDtype = 'F32' | 'F16' | 'BF16';
export const FLOAT_DTYPES: readonly FloatDtype[] = ['F32', 'F16', 'BF16'];

export interface SafetensorsTensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the first element in the file. */
  begin: number;
  nbytes: number;
}

export interface SafetensorsFile {
  path: string;
  fileSize: number;
  /** Absolute offset of the data section: 8 + header size. */
  dataOffset: number;
  tensors: Map<string, SafetensorsTensorInfo>;
  /** The `__metadata__` entry (string → string), empty when absent. */
  metadata: Record<string, string>;
}

export interface ReadSafetensorsOptions {
  /**
   * Whether a tensor may have this dtype. By default only F32/F16/BF16 are accepted, except for
   * the legacy GPT-Neo attention mask buffers (which a loader skips), which may have any dtype.
   */
  acceptDtype?: (name: string, dtype: SafetensorsDtype) => boolean;
}

/** Largest header accepted; real headers are a few hundred KB at most. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const defaultAcceptDtype = (name: string, dtype: SafetensorsDtype): boolean =>
  (FLOAT_DTYPES as readonly string[]).includes(dtype) || isLegacyAttentionBuffer(name);

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_SIZES, value);
}

function badCheckpoint(path: string, message: string, cause?: unknown): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_BAD_CHECKPOINT', `${path}: ${message}`,
    { hint: 'the file is not a valid safetensors checkpoint; re-download or re-export it', cause });
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

async function openForReading(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND', `No such file: ${path}`, { cause: e });
    }
    throw new GptNeoError('ERR_GPTNEO_IO', `Cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
}

async function readExactly(fh: FileHandle, path: string, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(buffer, done, length - done, position + done));
    } catch (e) {
      throw new GptNeoError('ERR_GPTNEO_IO', `Cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    if (bytesRead === 0) throw badCheckpoint(path, `file ended at byte ${position + done} while reading ${length} bytes`);
    done += bytesRead;
  }
  return buffer;
}

function parseMetadata(path: string, value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badCheckpoint(path, `__metadata__ must be an object of strings but is ${describe(value)}`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw badCheckpoint(path, `__metadata__.${key} must be a string but is ${describe(v)}`);
    metadata[key] = v;
  }
  return metadata;
}

function elementCount(shape: number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

function parseTensorEntry(path: string, name: string, entry: unknown, dataSize: number, dataOffset: number,
  acceptDtype: (name: string, dtype: SafetensorsDtype) => boolean): SafetensorsTensorInfo {
  const where = `tensor ${JSON.stringify(name)}`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw badCheckpoint(path, `${where}: entry must be an object but is ${describe(entry)}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isDtype(dtype)) throw badCheckpoint(path, `${where}: unknown dtype ${describe(dtype)}`);
  if (!acceptDtype(name, dtype)) {
    throw badCheckpoint(path, `${where} has dtype ${dtype}; model weights must be one of ${FLOAT_DTYPES.join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw badCheckpoint(path, `${where}: shape must be an array of non-negative integers but is ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw badCheckpoint(path, `${where}: data_offsets must be [begin, end] non-negative integers but is ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw badCheckpoint(path, `${where}: data_offsets [${begin}, ${end}] has begin > end`);
  if (end > dataSize) {
    throw badCheckpoint(path, `${where}: data_offsets [${begin}, ${end}] run past the end of the data section ` +
      `(${dataSize} bytes); the file may be truncated`);
  }
  const expectedBytes = elementCount(shape) * SAFETENSORS_DTYPE_SIZES[dtype];
  if (expectedBytes !== end - begin) {
    throw badCheckpoint(path, `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${expectedBytes} bytes ` +
      `but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { dtype, shape: [...shape], begin: dataOffset + begin, nbytes: end - begin };
}

function checkNoOverlap(path: string, tensors: Map<string, SafetensorsTensorInfo>): void {
  const sorted = [...tensors].filter(([, t]) => t.nbytes > 0).sort(([, a], [, b]) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prev] = sorted[i - 1]!;
    const [name, cur] = sorted[i]!;
    if (cur.begin < prev.begin + prev.nbytes) {
      throw badCheckpoint(path, `tensors ${JSON.stringify(prevName)} and ${JSON.stringify(name)} overlap in the file`);
    }
  }
}

/**
 * Reads and validates the header of a safetensors file (not the tensor data).
 * @throws GptNeoError ERR_GPTNEO_FILE_NOT_FOUND when the file is missing, ERR_GPTNEO_BAD_CHECKPOINT
 *   (with the path and what is wrong) for a malformed header, ERR_GPTNEO_IO when it cannot be read
 */
export async function readSafetensorsHeader(path: string, options: ReadSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const acceptDtype = options.acceptDtype ?? defaultAcceptDtype;
  const fh = await openForReading(path);
  try {
    const stats = await fh.stat();
    if (!stats.isFile()) throw badCheckpoint(path, 'not a regular file');
    const fileSize = stats.size;
    if (fileSize < 8) throw badCheckpoint(path, `file is ${fileSize} bytes, shorter than the 8-byte header size`);
    const headerSize = (await readExactly(fh, path, 8, 0)).readBigUInt64LE(0);
    if (headerSize > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
      throw badCheckpoint(path, `header size ${headerSize} is larger than ` +
        (headerSize > BigInt(MAX_HEADER_BYTES) ? `the ${MAX_HEADER_BYTES}-byte limit` : `the rest of the file (${fileSize - 8} bytes)`));
    }
    const dataOffset = 8 + Number(headerSize);
    const headerBytes = await readExactly(fh, path, Number(headerSize), 8);

    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
    } catch (e) {
      throw badCheckpoint(path, `header is not valid UTF-8 JSON (${(e as Error).message})`, e);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      throw badCheckpoint(path, `header must be a JSON object but is ${describe(header)}`);
    }

    const dataSize = fileSize - dataOffset;
    const tensors = new Map<string, SafetensorsTensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') metadata = parseMetadata(path, entry);
      else tensors.set(name, parseTensorEntry(path, name, entry, dataSize, dataOffset, acceptDtype));
    }
    checkNoOverlap(path, tensors);
    return { path, fileSize, dataOffset, tensors, metadata };
  } finally {
    await fh.close();
  }
}

const TYPED_ARRAYS = {
  F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, F8_E4M3: Uint8Array, F8_E5M2: Uint8Array,
  I64: BigInt64Array, I32: Int32Array, I16: Int16Array, I8: Int8Array,
  U64: BigUint64Array, U32: Uint32Array, U16: Uint16Array, U8: Uint8Array, BOOL: Uint8Array,
} as const;

export type TensorData = InstanceType<(typeof TYPED_ARRAYS)[SafetensorsDtype]>;

/**
 * Reads one tensor's elements (F16/BF16 come back as their raw Uint16Array bits).
 * Meant for tests and tools; the model loader mmaps the file natively instead.
 */
export async function readTensor(file: SafetensorsFile, name: string): Promise<{ dtype: SafetensorsDtype; shape: number[]; data: TensorData }> {
  const info = file.tensors.get(name);
  if (!info) throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', `No tensor ${JSON.stringify(name)} in ${file.path}`);
  if (endianness() !== 'LE') throw new GptNeoError('ERR_GPTNEO_UNSUPPORTED', 'safetensors data is little-endian; this host is not');
  const fh = await openForReading(file.path);
  try {
    const bytes = await readExactly(fh, file.path, info.nbytes, info.begin);
    const Ctor = TYPED_ARRAYS[info.dtype];
    // Copy into a fresh ArrayBuffer so the view is aligned regardless of the file offset.
    const buffer = new ArrayBuffer(info.nbytes);
    new Uint8Array(buffer).set(bytes);
    return { dtype: info.dtype, shape: [...info.shape], data: new Ctor(buffer) as TensorData };
  } finally {
    await fh.close();
  }
}

/** Elements of a tensor to write: one array, or chunks (e.g. from a generator) in order. */
export type TensorSource = Float32Array | Uint16Array | Iterable<Float32Array | Uint16Array>;

export interface TensorToWrite {
  name: string;
  dtype: FloatDtype;
  shape: number[];
  /** F32 takes Float32Array; F16/BF16 take the raw 16-bit patterns as Uint16Array. */
  data: TensorSource;
}

function invalidTensor(name: string, message: string): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', `writeSafetensors: tensor ${JSON.stringify(name)}: ${message}`);
}

function checkChunkType(t: TensorToWrite, chunk: unknown): Float32Array | Uint16Array {
  const ok = t.dtype === 'F32' ? chunk instanceof Float32Array : chunk instanceof Uint16Array;
  if (!ok) throw invalidTensor(t.name, `${t.dtype} data must be ${t.dtype === 'F32' ? 'Float32Array' : 'Uint16Array'} but received ${describe(chunk)}`);
  return chunk as Float32Array | Uint16Array;
}

function buildHeader(tensors: readonly TensorToWrite[], metadata: Record<string, string> | undefined): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const names = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name === '' || t.name === '__metadata__') throw invalidTensor(String(t.name), 'invalid name');
    if (names.has(t.name)) throw invalidTensor(t.name, 'duplicate name');
    names.add(t.name);
    if (!FLOAT_DTYPES.includes(t.dtype)) throw invalidTensor(t.name, `unsupported dtype ${describe(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegativeInteger)) throw invalidTensor(t.name, `invalid shape ${JSON.stringify(t.shape)}`);
    const nbytes = elementCount(t.shape) * SAFETENSORS_DTYPE_SIZES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces so that the data section starts 8-byte aligned, as the HF writer does.
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  return padded;
}

async function writeAll(fh: FileHandle, data: ArrayBufferView): Promise<void> {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let done = 0;
  while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done)).bytesWritten;
}

/**
 * Writes a safetensors file. Tensor data is streamed chunk by chunk, so a large checkpoint never
 * needs one buffer for the whole file. The file appears at `path` only once complete (written to
 * a temporary name beside it, then renamed).
 */
export async function writeSafetensors(path: string, tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>): Promise<void> {
  if (endianness() !== 'LE') throw new GptNeoError('ERR_GPTNEO_UNSUPPORTED', 'safetensors data is little-endian; this host is not');
  if (metadata !== undefined) {
    expectObject('metadata', metadata);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw invalid('string', `metadata.${k}`, v);
    }
  }
  if (!Array.isArray(tensors)) throw invalid('array of tensors', 'tensors', tensors);
  const header = buildHeader(tensors, metadata);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.partial`;
  const fh = await open(tmp, 'w');
  try {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    await writeAll(fh, prefix);
    await writeAll(fh, header);
    for (const t of tensors) {
      const expected = elementCount(t.shape);
      let written = 0;
      const chunks = ArrayBuffer.isView(t.data) ? [t.data] : t.data;
      for (const chunk of chunks) {
        const typed = checkChunkType(t, chunk);
        written += typed.length;
        if (written > expected) break;
        await writeAll(fh, typed);
      }
      if (written !== expected) {
        throw invalidTensor(t.name, `shape [${t.shape.join(', ')}] has ${expected} elements but ${written > expected ? 'more' : written} were given`);
      }
    }
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
