// safetensors header reader and writer (lib/model/safetensors.ts).
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensor, writeSafetensors } from '../lib/model/safetensors.js';
import { assertRejectsWith, TempDirs, writeRawSafetensors } from './helpers/checkpoints.js';
import { fixture } from './helpers/paths.js';

const BAD = 'ERR_GPTNEO_BAD_CHECKPOINT';

describe('40 checkpoint: safetensors', () => {
  const temp = new TempDirs();
  after(() => temp.cleanup());
  let dir: string;
  before(async () => { dir = await temp.make(); });
  let n = 0;
  const path = (): string => join(dir, `case-${n++}.safetensors`);
  const f32 = (shape: number[], begin: number): object => ({ dtype: 'F32', shape, data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)] });

  it('reads the header of the tiny-neo fixture', async () => {
    const file = await readSafetensorsHeader(fixture('tiny-neo', 'model.safetensors'));
    assert.equal(file.tensors.size, 2 + 4 * 13 + 2);
    assert.deepEqual(file.metadata, { format: 'pt' });
    const wte = file.tensors.get('transformer.wte.weight')!;
    assert.deepEqual({ dtype: wte.dtype, shape: wte.shape, nbytes: wte.nbytes }, { dtype: 'F32', shape: [512, 64], nbytes: 512 * 64 * 4 });
    assert.equal(file.dataOffset % 8, 0);
    assert.ok(wte.begin >= file.dataOffset && wte.begin + wte.nbytes <= file.fileSize);
  });

  it('reads int32 tensors of reference.safetensors when the dtype is accepted, matching reference.json', async () => {
    const file = await readSafetensorsHeader(fixture('tiny-neo', 'reference.safetensors'), { acceptDtype: () => true });
    const reference = JSON.parse(await readFile(fixture('tiny-neo', 'reference.json'), 'utf8')) as
      { sequences: Array<{ input_ids: number[] }> };
    const ids = await readTensor(file, 'input_ids_1');
    assert.equal(ids.dtype, 'I32');
    assert.deepEqual(ids.shape, [1, 17]);
    assert.deepEqual(Array.from(ids.data as Int32Array), reference.sequences[1]!.input_ids);
    // The default reader refuses integer tensors that are not legacy buffers.
    await assertRejectsWith(readSafetensorsHeader(fixture('tiny-neo', 'reference.safetensors')), BAD, /has dtype I32/);
  });

  it('round-trips writeSafetensors → readSafetensorsHeader → readTensor for F32, F16 and BF16', async () => {
    const p = path();
    const a = Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1);
    const b = Uint16Array.from([0x3c00, 0xc000, 0x7bff]);
    const c = Uint16Array.from([0x3f80, 0x4000]);
    function* chunks(): Generator<Float32Array> { yield a.subarray(0, 5); yield a.subarray(5); }
    await writeSafetensors(p, [
      { name: 'a', dtype: 'F32', shape: [3, 4], data: a },
      { name: 'chunked', dtype: 'F32', shape: [12], data: chunks() },
      { name: 'empty', dtype: 'F32', shape: [0, 7], data: new Float32Array(0) },
      { name: 'b', dtype: 'F16', shape: [3], data: b },
      { name: 'c', dtype: 'BF16', shape: [1, 2], data: c },
    ], { format: 'pt', note: 'test' });
    const file = await readSafetensorsHeader(p);
    assert.deepEqual(file.metadata, { format: 'pt', note: 'test' });
    assert.equal(file.dataOffset % 8, 0, 'data section is 8-byte aligned');
    assert.equal(file.fileSize, file.dataOffset + 48 + 48 + 0 + 6 + 4);
    assert.deepEqual([...file.tensors.keys()], ['a', 'chunked', 'empty', 'b', 'c']);
    assert.deepEqual(file.tensors.get('b'), { dtype: 'F16', shape: [3], begin: file.dataOffset + 96, nbytes: 6 });
    assert.deepEqual((await readTensor(file, 'a')).data, a);
    assert.deepEqual((await readTensor(file, 'chunked')).data, a);
    assert.deepEqual((await readTensor(file, 'empty')).data, new Float32Array(0));
    assert.deepEqual((await readTensor(file, 'b')).data, b);
    assert.deepEqual((await readTensor(file, 'c')).data, c);
    const header = (await readFile(p)).subarray(8, file.dataOffset).toString('utf8');
    assert.match(header, /^\{.*\} *$/, 'header is JSON padded with spaces');
  });

  it('writeSafetensors rejects a wrong element count or array type and leaves no file behind', async () => {
    const sub = await temp.make();
    await assertRejectsWith(writeSafetensors(join(sub, 'x.safetensors'), [{ name: 'a', dtype: 'F32', shape: [2, 3], data: new Float32Array(5) }]),
      'ERR_GPTNEO_INVALID_ARGUMENT', /tensor "a": shape \[2, 3\] has 6 elements but 5 were given/);
    await assertRejectsWith(writeSafetensors(join(sub, 'x.safetensors'), [{ name: 'a', dtype: 'BF16', shape: [2], data: new Float32Array(2) }]),
      'ERR_GPTNEO_INVALID_ARGUMENT', /BF16 data must be Uint16Array but received a Float32Array/);
    await assertRejectsWith(writeSafetensors(join(sub, 'x.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) }, { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) },
    ]), 'ERR_GPTNEO_INVALID_ARGUMENT', /duplicate name/);
    assert.deepEqual(await readdir(sub), []);
  });

  it('rejects a missing file with ERR_GPTNEO_FILE_NOT_FOUND', async () => {
    await assertRejectsWith(readSafetensorsHeader(join(dir, 'model.safetensors')), 'ERR_GPTNEO_FILE_NOT_FOUND', /No such file: .*model\.safetensors/);
  });

  it('rejects a file shorter than 8 bytes', async () => {
    const p = path();
    await writeFile(p, Buffer.from([1, 2, 3]));
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /file is 3 bytes, shorter than the 8-byte header size/);
  });

  it('rejects a header size larger than the file', async () => {
    const p = path();
    await writeRawSafetensors(p, '{}', 0, 1000n);
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /header size 1000 is larger than the rest of the file \(2 bytes\)/);
    await writeRawSafetensors(p, '{}', 0, 1n << 62n);
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /header size 4611686018427387904 is larger than the 104857600-byte limit/);
  });

  it('rejects a header that is not JSON', async () => {
    const p = path();
    await writeRawSafetensors(p, '{"a": {"dtype": "F32",');
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /header is not valid UTF-8 JSON/);
    // {"\xff": …}: valid JSON apart from a byte that is not UTF-8.
    await writeRawSafetensors(p, Buffer.concat([Buffer.from('{"'), Buffer.from([0xff]), Buffer.from('": {}}')]));
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /header is not valid UTF-8 JSON \(The encoded data was not valid/);
  });

  it('rejects a header whose JSON is not an object', async () => {
    const p = path();
    await writeRawSafetensors(p, [1, 2]);
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /header must be a JSON object but is an array of length 2/);
    await writeRawSafetensors(p, 'null');
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /header must be a JSON object but is null/);
  });

  it('rejects an integer dtype for a weight, naming tensor and dtype', async () => {
    const p = path();
    await writeRawSafetensors(p, { 'transformer.wte.weight': { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, 16);
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /tensor "transformer\.wte\.weight" has dtype I64/);
  });

  it('accepts any dtype for the legacy attention buffers, and rejects unknown dtypes', async () => {
    const p = path();
    await writeRawSafetensors(p, {
      'transformer.h.0.attn.attention.bias': { dtype: 'BOOL', shape: [1, 1, 4, 4], data_offsets: [0, 16] },
      'transformer.h.1.attn.attention.masked_bias': { dtype: 'I64', shape: [], data_offsets: [16, 24] },
    }, 24);
    const file = await readSafetensorsHeader(p);
    assert.equal(file.tensors.get('transformer.h.1.attn.attention.masked_bias')!.dtype, 'I64');
    await writeRawSafetensors(p, { x: { dtype: 'F99', shape: [1], data_offsets: [0, 4] } }, 4);
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /tensor "x": unknown dtype "F99"/);
  });

  it('rejects data_offsets past the end of the file', async () => {
    const p = path();
    await writeRawSafetensors(p, { a: f32([4], 0), b: f32([4], 16) }, 20);
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /tensor "b": data_offsets \[16, 32\] run past the end of the data section \(20 bytes\)/);
  });

  it('rejects overlapping tensors', async () => {
    const p = path();
    await writeRawSafetensors(p, { a: f32([4], 0), b: f32([2], 8), c: f32([2], 24) }, 32);
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /tensors "a" and "b" overlap/);
  });

  it('rejects a byte length that does not match the shape', async () => {
    const p = path();
    await writeRawSafetensors(p, { a: { dtype: 'F16', shape: [3, 2], data_offsets: [0, 24] } }, 24);
    await assertRejectsWith(readSafetensorsHeader(p), BAD, /tensor "a": shape \[3, 2\] of F16 needs 12 bytes but data_offsets \[0, 24\] hold 24/);
  });

  it('rejects malformed entries: shape, offsets, begin > end, metadata', async () => {
    const p = path();
    const cases: Array<[unknown, RegExp]> = [
      [{ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, /shape must be an array of non-negative integers but is \[-1\]/],
      [{ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, /data_offsets must be \[begin, end\]/],
      [{ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, /data_offsets \[4, 0\] has begin > end/],
      [{ a: 'F32' }, /tensor "a": entry must be an object but is "F32"/],
      [{ __metadata__: { format: 1 } }, /__metadata__\.format must be a string but is 1/],
    ];
    for (const [header, message] of cases) {
      await writeRawSafetensors(p, header, 8);
      await assertRejectsWith(readSafetensorsHeader(p), BAD, message);
    }
  });
});
