/**
 * A minimal protobuf writer for the subset of onnx.proto an exported inference graph needs:
 * ModelProto, OperatorSetIdProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto,
 * TypeProto.Tensor and TensorShapeProto. Field numbers are onnx.proto's.
 *
 * A message is kept as a list of byte chunks (never concatenated), so tensor data of any size is
 * referenced, not copied, until {@link writeOnnxModel} streams the chunks to a file.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** Protobuf wire types. */
const VARINT = 0;
const FIXED32 = 5;
const LENGTH_DELIMITED = 2;

const utf8 = new TextEncoder();

/** One protobuf message under construction: its encoded chunks and their total length. */
export class ProtoMessage {
  readonly chunks: Uint8Array[] = [];
  byteLength = 0;

  private push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes);
    this.byteLength += bytes.length;
  }

  private tag(field: number, wireType: number): void {
    this.push(encodeVarint(BigInt(field * 8 + wireType)));
  }

  /** An int32/int64/enum field; negative values take 10 bytes (two's complement), as protobuf does. */
  int(field: number, value: number | bigint): this {
    this.tag(field, VARINT);
    this.push(encodeVarint(BigInt.asUintN(64, BigInt(value))));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.push(bytes);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, LENGTH_DELIMITED);
    this.push(encodeVarint(BigInt(data.length)));
    this.push(data);
    return this;
  }

  string(field: number, text: string): this {
    return this.bytes(field, utf8.encode(text));
  }

  /** A nested message; its chunks are shared, not copied. */
  message(field: number, inner: ProtoMessage): this {
    this.tag(field, LENGTH_DELIMITED);
    this.push(encodeVarint(BigInt(inner.byteLength)));
    for (const c of inner.chunks) this.push(c);
    return this;
  }

  /** A packed repeated int64 field. */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const parts = values.map((v) => encodeVarint(BigInt.asUintN(64, BigInt(v))));
    const length = parts.reduce((n, p) => n + p.length, 0);
    this.tag(field, LENGTH_DELIMITED);
    this.push(encodeVarint(BigInt(length)));
    for (const p of parts) this.push(p);
    return this;
  }

  /** The whole message as one buffer (copies; meant for small messages and tests). */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    let at = 0;
    for (const c of this.chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}

/** Base-128 varint of an unsigned 64-bit value. */
export function encodeVarint(value: bigint): Uint8Array {
  const out: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

/** TensorProto.DataType values used here. */
export const OnnxType = { FLOAT: 1, INT64: 7 } as const;
export type OnnxElementType = (typeof OnnxType)[keyof typeof OnnxType];

/** TensorProto with its data as raw little-endian bytes (no copy of `data`). */
export function tensorProto(name: string, type: OnnxElementType, dims: readonly number[],
  data: Float32Array | BigInt64Array): ProtoMessage {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new RangeError(`tensor ${name}: ${data.length} values for dims [${dims.join(', ')}]`);
  const t = new ProtoMessage();
  if (dims.length > 0) t.packedInts(1, dims);  // dims
  t.int(2, type);                                  // data_type
  t.string(8, name);                               // name
  t.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));  // raw_data (little-endian hosts)
  return t;
}

/** ValueInfoProto of a tensor; a string dimension is symbolic (dim_param). */
export function valueInfo(name: string, type: OnnxElementType, dims: readonly (number | string)[]): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of dims) {
    const dim = new ProtoMessage();
    if (typeof d === 'number') dim.int(1, d); else dim.string(2, d);  // dim_value / dim_param
    shape.message(1, dim);                                             // TensorShapeProto.dim
  }
  const tensorType = new ProtoMessage().int(1, type).message(2, shape);  // elem_type, shape
  const typeProto = new ProtoMessage().message(1, tensorType);           // TypeProto.tensor_type
  return new ProtoMessage().string(1, name).message(2, typeProto);
}

/** An attribute value: integer, float, list of integers, or a string. */
export type AttributeValue = { int: number } | { float: number } | { ints: readonly number[] } | { string: string };

/** AttributeType enum values. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

function attributeProto(name: string, value: AttributeValue): ProtoMessage {
  const a = new ProtoMessage().string(1, name);
  if ('int' in value) a.int(3, value.int).int(20, ATTR_INT);
  else if ('float' in value) a.float(2, value.float).int(20, ATTR_FLOAT);
  else if ('ints' in value) a.packedInts(8, value.ints).int(20, ATTR_INTS);
  else a.bytes(4, utf8.encode(value.string)).int(20, ATTR_STRING);
  return a;
}

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** '' (default) is the standard ONNX domain; 'com.microsoft' holds onnxruntime's contrib ops. */
  domain?: string;
  attributes?: Readonly<Record<string, AttributeValue>>;
}

function nodeProto(n: OnnxNode): ProtoMessage {
  const m = new ProtoMessage();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  if (n.name) m.string(3, n.name);
  m.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) m.message(5, attributeProto(k, v));
  if (n.domain) m.string(7, n.domain);
  return m;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly ProtoMessage[];
  inputs: readonly ProtoMessage[];
  outputs: readonly ProtoMessage[];
}

export interface OnnxModel {
  /** 8 goes with opset 17 and later. */
  irVersion: number;
  opsets: ReadonlyArray<{ domain: string; version: number }>;
  producer: string;
  graph: OnnxGraph;
}

/** The encoded ModelProto. */
export function modelProto(model: OnnxModel): ProtoMessage {
  const g = new ProtoMessage();
  for (const n of model.graph.nodes) g.message(1, nodeProto(n));
  g.string(2, model.graph.name);
  for (const t of model.graph.initializers) g.message(5, t);
  for (const i of model.graph.inputs) g.message(11, i);
  for (const o of model.graph.outputs) g.message(12, o);
  const m = new ProtoMessage().int(1, model.irVersion).string(2, model.producer);
  m.message(7, g);
  for (const o of model.opsets) m.message(8, new ProtoMessage().string(1, o.domain).int(2, o.version));
  return m;
}

/** write() may write less than asked: loop until every byte is out. */
async function writeAll(file: FileHandle, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += (await file.write(bytes, at, bytes.length - at)).bytesWritten;
}

/** Writes the ModelProto to `path` chunk by chunk; returns the file's size in bytes. */
export async function writeOnnxModel(path: string, model: OnnxModel): Promise<number> {
  const proto = modelProto(model);
  if (proto.byteLength >= 2 ** 31) {
    throw new RangeError(`the ONNX model would be ${proto.byteLength} bytes; protobuf files must stay under 2 GiB`);
  }
  const file = await open(path, 'w');
  try {
    // Small chunks are gathered into one buffer; large ones (tensor data) are written as they are.
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const joined = new Uint8Array(pendingBytes);
      let at = 0;
      for (const c of pending) { joined.set(c, at); at += c.length; }
      pending = [];
      pendingBytes = 0;
      await writeAll(file, joined);
    };
    for (const c of proto.chunks) {
      if (c.length >= 1 << 16) { await flush(); await writeAll(file, c); continue; }
      pending.push(c);
      pendingBytes += c.length;
      if (pendingBytes >= 1 << 20) await flush();
    }
    await flush();
  } finally {
    await file.close();
  }
  return proto.byteLength;
}
