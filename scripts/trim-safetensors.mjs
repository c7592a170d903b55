// Writes a copy of a safetensors file holding only the named tensors (same dtypes, shapes and values;
// metadata kept), with the library's own reader and writer (dist/: run `npx tsc` first). Used by
// gpu-bundle.sh to carry only the reference tensors the GPU checks read. Float tensors only (the
// writer's dtypes).
//   node scripts/trim-safetensors.mjs IN OUT NAME...
import { readSafetensorsHeader, readTensor, writeSafetensors } from '../dist/lib/model/safetensors.js';

const [input, output, ...names] = process.argv.slice(2);
if (!input || !output || names.length === 0) {
  console.error('usage: node scripts/trim-safetensors.mjs IN OUT NAME...');
  process.exit(2);
}
const file = await readSafetensorsHeader(input, { acceptDtype: () => true });
const tensors = [];
for (const name of names) {
  const t = await readTensor(file, name);
  tensors.push({ name, dtype: t.dtype, shape: t.shape, data: t.data });
}
await writeSafetensors(output, tensors, file.metadata);
