// The model on a CUDA GPU against the Hugging Face fixtures and the CPU. Runs only where a usable
// GPU is present (scripts/gpu-check.sh runs the same checks on the GPU machine without mocha).
import { cudaUnavailableReason } from '../lib/index.js';
import {
  checkCudaBfloat16, checkCudaEmbeddings, checkCudaExperimentalSwitches, checkCudaFloat32, checkCudaGraphs,
  checkCudaDeviceDraw, checkCudaRunAhead, checkCudaStepSampling,
} from './helpers/cuda-model-checks.js';

describe('90 model on CUDA', function () {
  before(function () {
    const reason = cudaUnavailableReason();
    if (reason !== undefined) {
      console.log(`      skipped: no usable CUDA GPU here (${reason}); scripts/gpu-check.sh runs these on a GPU machine`);
      this.skip();
    }
  });

  for (const name of ['tiny-neo', 'tiny-neo-gpt2vocab'] as const) {
    it(`${name}: float32 matches Hugging Face and the CPU; greedy identical`, async () => {
      console.log(`      ${await checkCudaFloat32(name)}`);
    });
    it(`${name}: bfloat16 within 2x a naive bf16 model`, async () => {
      console.log(`      ${await checkCudaBfloat16(name)}`);
    });
    it(`${name}: decode from CUDA graphs equals decode without them`, async () => {
      console.log(`      ${await checkCudaGraphs(name)}`);
    });
    it(`${name}: run-ahead (greedy and sampled) equals one step per call, with and without graphs`, async () => {
      console.log(`      ${await checkCudaRunAhead(name)}`);
    });
    it(`${name}: the decode switches are reported and keep greedy decoding`, async () => {
      console.log(`      ${await checkCudaExperimentalSwitches(name)}`);
    });
  }
  it('embeddings equal the CPU', async () => {
    console.log(`      ${await checkCudaEmbeddings()}`);
  });
  it('sampling in the step equals the TypeScript sampler', async () => {
    console.log(`      ${await checkCudaStepSampling()}`);
  });
  it('the device draw (experimental) gives the TypeScript sampler\'s tokens', async () => {
    console.log(`      ${await checkCudaDeviceDraw()}`);
  });
});
