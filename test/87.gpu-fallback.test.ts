// GPU fallbacks explain themselves: with no driver, no device or a GPU too old for the kernels,
// devices() and `gpt-neo info` give the reason, device 'auto' runs on the CPU, and device 'cuda'
// fails with ERR_GPTNEO_DEVICE_UNAVAILABLE naming the cause. Where the real situation cannot be
// produced, GPTNEO_SIMULATE_CUDA makes the addon report it (csrc/model/cuda_backend.cpp).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { loadNative } from '../lib/native/binding.js';
import { fixture, repoRoot } from './helpers/paths.js';

const indexJs = join(repoRoot, 'dist', 'lib', 'index.js');
const cli = join(repoRoot, 'dist', 'lib', 'cli', 'main.js');

function probe(simulate: string | undefined): { devices: unknown[]; cudaReason?: string; auto: string; cudaError: { code: string; message: string } } {
  const script = `
    const { loadModel, devices, cudaUnavailableReason } = await import(${JSON.stringify(indexJs)});
    const auto = await loadModel(${JSON.stringify(fixture('tiny-neo'))}, { device: 'auto' });
    const out = { devices: devices(), cudaReason: cudaUnavailableReason(), auto: auto.device };
    await auto.generate([1, 2], { maxNewTokens: 2, temperature: 0 });
    await auto.dispose();
    try { await loadModel(${JSON.stringify(fixture('tiny-neo'))}, { device: 'cuda' }); out.cudaError = null; }
    catch (e) { out.cudaError = { code: e.code, message: e.message }; }
    console.log(JSON.stringify(out));`;
  const env = { ...process.env };
  delete env.GPTNEO_SIMULATE_CUDA;
  if (simulate) env.GPTNEO_SIMULATE_CUDA = simulate;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' }));
}

describe('87 GPU fallbacks', function () {
  this.timeout(60_000);
  const built = loadNative().buildInfo().cuda;

  if (!built) {
    it('a build without CUDA says so and runs on the CPU', () => {
      const r = probe(undefined);
      assert.equal(r.auto, 'cpu');
      assert.match(r.cudaReason!, /without CUDA/);
      assert.equal(r.cudaError.code, 'ERR_GPTNEO_DEVICE_UNAVAILABLE');
    });
    return;
  }

  const cases: Array<[string, RegExp]> = [
    ['no-driver', /no NVIDIA driver was found, or it is older/],
    ['no-device', /no CUDA-capable device/],
    ['sm75', /compute capability 7\.5 < 8\.0/],
  ];
  for (const [simulate, reason] of cases) {
    it(`${simulate}: the reason is reported, 'auto' uses the CPU, 'cuda' fails naming the cause`, () => {
      const r = probe(simulate);
      assert.equal(r.auto, 'cpu');
      assert.match(r.cudaReason!, reason);
      assert.equal(r.cudaError.code, 'ERR_GPTNEO_DEVICE_UNAVAILABLE');
      assert.match(r.cudaError.message, reason);
      if (simulate === 'sm75') {
        const gpu = r.devices.find((d) => (d as { type: string }).type === 'cuda') as { usable: boolean; capability: string };
        assert.deepEqual([gpu.usable, gpu.capability], [false, '7.5']);
      }
      const env = { ...process.env, GPTNEO_SIMULATE_CUDA: simulate };
      const info = execFileSync(process.execPath, [cli, 'info'], { env, encoding: 'utf8' });
      assert.match(info, reason);
    });
  }
});
