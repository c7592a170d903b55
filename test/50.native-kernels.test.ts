// The native kernel tests: every CPU kernel at every SIMD level this CPU has against its scalar
// oracle in csrc/cpu/ref (test_cpu_ops), and the CUDA backend's tests over a host stand-in of the
// CUDA launcher API: its ops (test_cuda_ops_mock) and the whole model with and without recorded
// decode steps against the CPU backend (test_model_graph_mock, under AddressSanitizer). Built with
// CMake from the same sources.json, CPU only.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './helpers/paths.js';

const buildDir = join(repoRoot, 'build-native');

describe('50 native kernel tests (CMake)', function () {
  this.timeout(20 * 60 * 1000);

  before(() => {
    execFileSync('cmake', ['-S', repoRoot, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', '-DGPTNEO_CUDA=OFF'],
      { stdio: 'pipe' });
    execFileSync('cmake', ['--build', buildDir, '-j', '2', '--target', 'test_cpu_ops', 'test_cuda_ops_mock', 'test_model_graph_mock'],
      { stdio: 'pipe', maxBuffer: 64 << 20 });
  });

  // The groups test_cuda_ops runs only when asked by name (gpu-check gives them stages of their own).
  const runs: Array<[string, string[]]> = [['test_cpu_ops', []], ['test_cuda_ops_mock', []], ['test_model_graph_mock', []],
    ['test_cuda_ops_mock', ['--only', 'gemm_few']], ['test_cuda_ops_mock', ['--only', 'decode_layer_streams']]];
  for (const [exe, args] of runs) {
    it(`${[exe, ...args].join(' ')} passes every case`, () => {
      const run = spawnSync(join(buildDir, exe), args, { encoding: 'utf8', maxBuffer: 64 << 20 });
      const lines = `${run.stdout}${run.stderr}`.trim().split('\n');
      const summary = lines.reverse().find((l) => /\d+ passed, \d+ failed/.test(l)) ?? '(no summary line)';
      const failures = lines.filter((l) => /^\s*FAIL/.test(l)).slice(0, 10);
      console.log(`      ${exe}: ${summary.trim()}`);
      assert.equal(run.status, 0, `${exe} exited ${run.status}: ${failures.join('\n')}`);
      assert.match(summary, /[1-9]\d* passed, 0 failed/);
    });
  }
});
