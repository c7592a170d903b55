// The addon loads, reports the CPU path, and answers a CUDA capability query. A forgotten .cu
// rule would still link, then die at the first call into CUDA code with an undefined symbol:
// devices() calls into the CUDA part whenever the build has it.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { devices } from '../lib/index.js';
import { loadNative } from '../lib/native/binding.js';
import { repoRoot } from './helpers/paths.js';

describe('06 native addon', () => {
  it('loads and reports the CPU SIMD path and threads', () => {
    const [cpu] = devices();
    assert.equal(cpu!.type, 'cpu');
    assert.ok(['portable', 'avx2', 'avx512', 'avx512bf16', 'amx'].includes((cpu as { simd: string }).simd));
    assert.ok((cpu as { threads: number }).threads >= 1);
  });

  it('is built with CUDA exactly when the toolkit was found, and the CUDA query answers', () => {
    const expected = execFileSync(process.execPath, [join(repoRoot, 'scripts', 'cuda-detect.mjs'), 'enabled'],
      { encoding: 'utf8', env: process.env }).trim() === '1';
    const addon = loadNative();
    assert.equal(addon.buildInfo().cuda, expected, 'buildInfo().cuda disagrees with scripts/cuda-detect.mjs');
    const cuda = addon.devices().cuda;
    assert.equal(cuda.built, expected);
    if (cuda.devices.some((d) => d.usable)) return;
    // No usable GPU (CI): the reason says why rather than crashing.
    assert.ok(typeof cuda.reason === 'string' && cuda.reason.length > 0, 'no reason given for missing CUDA');
    console.log(`      (no usable GPU here: ${cuda.reason})`);
  });
});

describe('06 native addon: when no binary can be loaded', () => {
  it('the error names platform, arch, libc, what was tried, and the remedies', async () => {
    const { loadNativeFrom } = await import('../lib/native/binding.js');
    assert.throws(() => loadNativeFrom('/nonexistent/gpt-neo-node'), (e: { code?: string; message?: string; hint?: string }) => {
      assert.equal(e.code, 'ERR_GPTNEO_NATIVE_LOAD');
      assert.match(e.message!, new RegExp(`${process.platform}-${process.arch}`));
      assert.match(e.message!, /glibc|musl|libc/);
      assert.match(e.message!, /prebuilds\/.*build\/Release/);
      assert.match(e.hint!, /npm install/);
      assert.match(e.hint!, /build from source/);
      return true;
    });
  });
});
