// Writes a copy of a safetensors file holding only the named tensors (same dtypes, shapes and bytes;
// metadata kept). Used by gpu-bundle.sh to carry only the reference tensors the GPU checks read.
//   node scripts/trim-safetensors.mjs IN OUT NAME...
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output, ...names] = process.argv.slice(2);
if (!input || !output || names.length === 0) {
  console.error('usage: node scripts/trim-safetensors.mjs IN OUT NAME...');
  process.exit(2);
}
const file = readFileSync(input);
const headerBytes = Number(file.readBigUInt64LE(0));
const header = JSON.parse(file.subarray(8, 8 + headerBytes).toString('utf8'));
const data = file.subarray(8 + headerBytes);
const out = {};
if (header.__metadata__) out.__metadata__ = header.__metadata__;
const parts = [];
let offset = 0;
for (const name of names) {
  const t = header[name];
  if (!t || name === '__metadata__') {
    console.error(`${input}: no tensor named ${name}`);
    process.exit(1);
  }
  const [begin, end] = t.data_offsets;
  out[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + end - begin] };
  parts.push(data.subarray(begin, end));
  offset += end - begin;
}
// The header is padded with spaces to a multiple of 8 bytes, as the format recommends.
let json = JSON.stringify(out);
json += ' '.repeat((8 - (json.length % 8)) % 8);
const size = Buffer.alloc(8);
size.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
writeFileSync(output, Buffer.concat([size, Buffer.from(json, 'utf8'), ...parts]));
