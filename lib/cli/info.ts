/** `gpt-neo info`: CPU SIMD path and threads, CUDA devices and why one is unusable. */
import { devices } from '../devices.js';
import { loadNative } from '../native/binding.js';
import { parse } from './common.js';

export const INFO_HELP = `Usage: gpt-neo info [--json]
Prints what this machine can run on: the CPU's SIMD path and threads, CUDA devices, and why a
GPU cannot be used when it cannot.`;

export async function infoCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } });
  if (values.help) {
    process.stdout.write(`${INFO_HELP}\n`);
    return 0;
  }
  const list = devices();
  const native = loadNative();
  const cuda = native.devices().cuda;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ devices: list, cuda: { built: cuda.built, reason: cuda.reason } }, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = [];
  for (const d of list) {
    if (d.type === 'cpu') {
      lines.push(`cpu      simd ${d.simd}${d.simd !== d.simdDetected ? ` (detected ${d.simdDetected}, capped by GPTNEO_SIMD)` : ''}, ${d.threads} threads`);
    } else {
      lines.push(`cuda:${d.index}   ${d.name}, ${(d.memory / 2 ** 30).toFixed(1)} GiB, capability ${d.capability}` +
        (d.usable ? '' : ` — unusable: ${d.reason}`));
    }
  }
  if (!list.some((d) => d.type === 'cuda' && d.usable)) lines.push(`cuda     not available: ${cuda.reason ?? 'no usable device'}`);
  lines.push(`node     ${process.version} ${process.platform}-${process.arch}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
