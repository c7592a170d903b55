// Model checks on a CUDA device, shared by test/90.cuda-model.test.ts (mocha, where a GPU is
// present) and scripts/gpu-node-check.mjs (the GPU machine, which has no mocha). Each check
// throws an AssertionError on failure and returns a line describing what it measured.
import { strict as assert } from 'node:assert';
import { devices, loadModel, type GenerationResult, type GptNeoModel } from '../../lib/index.js';
import type { SamplingOptions } from '../../lib/sampling/index.js';
import { setStepSampler } from '../../lib/sampling/native-rows.js';
import { withEnv } from './env.js';
import { loadFixtureCase, maxAbsDiff, type FixtureCase } from './fixture-data.js';
import { loadReferenceModel, roundBf16 } from './reference-forward.js';

export type FixtureName = 'tiny-neo' | 'tiny-neo-gpt2vocab';

/** float32 on the GPU: logits and hidden states within 1e-4 of Hugging Face, greedy identical, CPU agreement. */
export async function checkCudaFloat32(name: FixtureName, device = 'cuda'): Promise<string> {
  const fx = await loadFixtureCase(name);
  await using gpu = await loadModel(fx.dir, { device: device as 'cuda', dtype: 'float32' });
  await using cpu = await loadModel(fx.dir, { device: 'cpu', dtype: 'float32' });
  assert.match(gpu.device, /^cuda:\d+$/);
  const V = gpu.config.vocabSize;
  let worstLogits = 0, worstHidden = 0, worstVsCpu = 0;
  for (const seq of fx.json.sequences) {
    const logits = await gpu.forward(seq.input_ids);
    const ref = await fx.tensor(`logits_${seq.index}`) as Float32Array;
    seq.logit_positions.forEach((pos, p) => {
      worstLogits = Math.max(worstLogits, maxAbsDiff(logits.subarray(pos * V, (pos + 1) * V), ref.subarray(p * V, (p + 1) * V)));
    });
    const hidden = await gpu.forward(seq.input_ids, { output: 'hidden' });
    worstHidden = Math.max(worstHidden, maxAbsDiff(hidden, await fx.tensor(`last_hidden_state_${seq.index}`) as Float32Array));
    worstVsCpu = Math.max(worstVsCpu, maxAbsDiff(logits, await cpu.forward(seq.input_ids)));
    const out = await gpu.generate(seq.input_ids, { maxNewTokens: 24, temperature: 0 });
    assert.deepEqual(out.tokenIds, seq.greedy_new_ids, `${name} sequence ${seq.index}: greedy differs on the GPU`);
  }
  assert.ok(worstLogits <= 1e-4, `${name}: GPU fp32 logits differ from HF by ${worstLogits}`);
  assert.ok(worstHidden <= 1e-4, `${name}: GPU fp32 hidden states differ from HF by ${worstHidden}`);
  return `${name} cuda float32: max|logits-HF| ${worstLogits.toExponential(2)}, max|hidden-HF| ${worstHidden.toExponential(2)}, ` +
    `max|gpu-cpu| ${worstVsCpu.toExponential(2)}, greedy identical`;
}

/**
 * bfloat16 on the GPU: the logit error against HF's fp32 is at most twice that of a naive bf16
 * model (weights and GEMM inputs rounded to bf16, float64 elsewhere). Greedy agreement is
 * reported, not asserted: the fixtures' top-1 margins (4e-3) are below bf16's resolution.
 */
export async function checkCudaBfloat16(name: FixtureName, device = 'cuda'): Promise<string> {
  const fx = await loadFixtureCase(name);
  const naive = await loadReferenceModel(fx.dir, roundBf16, true);
  await using gpu = await loadModel(fx.dir, { device: device as 'cuda', dtype: 'bfloat16' });
  assert.equal(gpu.dtype, 'bfloat16');
  const V = gpu.config.vocabSize;
  let ours = 0, base = 0, agree = 0, total = 0;
  for (const seq of fx.json.sequences) {
    const logits = await gpu.forward(seq.input_ids);
    const ref = await fx.tensor(`logits_${seq.index}`) as Float32Array;
    const naiveLogits = naive.forward(seq.input_ids).logits;
    seq.logit_positions.forEach((pos, p) => {
      ours = Math.max(ours, maxAbsDiff(logits.subarray(pos * V, (pos + 1) * V), ref.subarray(p * V, (p + 1) * V)));
      base = Math.max(base, maxAbsDiff(naiveLogits[pos]!, ref.subarray(p * V, (p + 1) * V)));
    });
    const out = await gpu.generate(seq.input_ids, { maxNewTokens: 24, temperature: 0 });
    out.tokenIds.forEach((t, i) => { total++; if (t === seq.greedy_new_ids[i]) agree++; else return; });
  }
  assert.ok(ours <= 2 * base, `${name}: GPU bf16 error ${ours} exceeds 2x the naive bf16 error ${base}`);
  return `${name} cuda bfloat16: max|logits-HF| ${ours.toExponential(2)} vs naive bf16 ${base.toExponential(2)}; ` +
    `greedy tokens equal to fp32 HF: ${agree}/${total}`;
}

/** Embeddings on the GPU equal the CPU's (same text, same pooling) within 1e-4 in float32. */
export async function checkCudaEmbeddings(device = 'cuda'): Promise<string> {
  const fx = await loadFixtureCase('tiny-neo-gpt2vocab');
  await using gpu = await loadModel(fx.dir, { device: device as 'cuda', dtype: 'float32' });
  await using cpu = await loadModel(fx.dir, { device: 'cpu', dtype: 'float32' });
  const texts = fx.json.sequences.map((s) => s.prompt_text!);
  let worst = 0;
  for (const pooling of ['mean', 'last', 'first'] as const) {
    const a = await gpu.embed(texts, { pooling });
    const b = await cpu.embed(texts, { pooling });
    a.forEach((v, i) => { worst = Math.max(worst, maxAbsDiff(v, b[i]!)); });
  }
  assert.ok(worst <= 1e-4, `GPU embeddings differ from CPU by ${worst}`);
  return `cuda embeddings (mean/last/first) vs cpu: max diff ${worst.toExponential(2)}`;
}

/**
 * Decode steps replayed from CUDA graphs (the default) against the same model with them off:
 * greedy continuations of every fixture prompt, run concurrently (batched decode steps of changing
 * size), are identical, and info() shows the graphs were recorded and replayed.
 */
export async function checkCudaGraphs(name: FixtureName, device = 'cuda'): Promise<string> {
  const fx = await loadFixtureCase(name);
  await using on = await loadModel(fx.dir, { device: device as 'cuda', dtype: 'float32' });
  await using off = await loadModel(fx.dir, { device: device as 'cuda', dtype: 'float32', cudaGraphs: false });
  const run = (m: typeof on) => Promise.all(fx.json.sequences.map((seq, i) =>
    m.generate(seq.input_ids, { maxNewTokens: 16 + 4 * i, temperature: 0, ignoreEos: true })));
  const [a, b] = [await run(on), await run(off)];
  a.forEach((r, i) => assert.deepEqual(r.tokenIds, b[i]!.tokenIds, `${name} sequence ${i}: greedy differs with CUDA graphs`));
  fx.json.sequences.forEach((seq, i) => {
    const n = Math.min(seq.greedy_new_ids.length, a[i]!.tokenIds.length);
    assert.deepEqual(a[i]!.tokenIds.slice(0, n), seq.greedy_new_ids.slice(0, n),
      `${name} sequence ${i}: greedy differs from HF with CUDA graphs`);
  });
  const g = on.info().cudaGraphs;
  assert.ok(g && g.enabled && g.recorded > 0 && g.replays > 0, `${name}: CUDA graphs were not used: ${JSON.stringify(g)}`);
  const gOff = off.info().cudaGraphs;
  assert.ok(gOff && !gOff.enabled && gOff.recorded === 0, `${name}: cudaGraphs: false still recorded: ${JSON.stringify(gOff)}`);
  return `${name} cuda graphs: greedy identical with and without (${a.length} concurrent sequences); ` +
    `${g.recorded} recorded, ${g.replays} replays`;
}

/**
 * Run-ahead on the GPU (several decode steps per call: greedy, the recorded step replayed back to back
 * with each step's argmax fed to the next on the device; sampled, each step's logits sampled on the host
 * between steps), with and without CUDA graphs, against one step per call: every fixture prompt run
 * concurrently with different lengths gives identical tokens, greedy and (in a second round) seeded
 * top-p with a repetition penalty, and the run-ahead models really took several steps per call.
 */
export async function checkCudaRunAhead(name: FixtureName, device = 'cuda'): Promise<string> {
  const fx = await loadFixtureCase(name);
  const base = { device: device as 'cuda', dtype: 'float32' as const };
  await using single = await loadModel(fx.dir, { ...base, runAhead: 1 });
  await using ahead = await loadModel(fx.dir, base);
  await using aheadNoGraphs = await loadModel(fx.dir, { ...base, cudaGraphs: false });
  const run = async (m: typeof single) => {
    await m.generate([1, 2, 3], { maxNewTokens: 4, temperature: 0 });  // times a step for the policy
    const greedy = await Promise.all(fx.json.sequences.map((seq, i) =>
      m.generate(seq.input_ids, { maxNewTokens: 20 + 5 * i, temperature: 0, ignoreEos: true })));
    const sampled = await Promise.all(fx.json.sequences.map((seq, i) => m.generate(seq.input_ids,
      { maxNewTokens: 18 + 3 * i, temperature: 0.8, topP: 0.9, repetitionPenalty: 1.2, seed: 7 + i, ignoreEos: true })));
    return [...greedy, ...sampled];
  };
  const want = await run(single);
  for (const [label, m] of [['graphs', ahead], ['no graphs', aheadNoGraphs]] as const) {
    const got = await run(m);
    got.forEach((r, i) => assert.deepEqual(r.tokenIds, want[i]!.tokenIds, `${name} sequence ${i}: run-ahead (${label}) differs`));
    const stats = m.stats().runAhead;
    assert.ok(stats.calls > 0 && stats.steps > 2 * stats.calls, `${name}: run-ahead (${label}) was not used: ${JSON.stringify(stats)}`);
  }
  const g = ahead.info().cudaGraphs;
  assert.ok(g && g.replays > 0 && !g.disabledReason, `${name}: run-ahead did not replay graphs: ${JSON.stringify(g)}`);
  const s = ahead.stats().runAhead;
  return `${name} cuda run-ahead: greedy identical to one step per call, with and without graphs ` +
    `(${s.steps} steps in ${s.calls} calls; ${g.replays} replays)`;
}

/**
 * The CUDA decode switches (GPTNEO_CUDA_GEMV_STREAM, GPTNEO_CUDA_PDL: on by default; GPTNEO_CUDA_FUSED_LN,
 * GPTNEO_CUDA_FUSED_KV, GPTNEO_CUDA_L2_PREFETCH: opt-in; read when a model loads): bf16 models loaded with all
 * of them off, with the defaults and with all five forced on report what is in effect in info().cudaExperimental
 * (programmatic launch and the L2 prefetch only on compute capability 9.0+) and generate, greedy, the same
 * tokens: the streaming GEMV, the folded layer norms and the kv_write done by the attention kernel do the same
 * fp32 arithmetic in another order (the cache holds the same values), programmatic launch changes only when
 * kernels may start, and the L2 prefetch only where the weights are when they are read.
 */
export async function checkCudaExperimentalSwitches(name: FixtureName, device = 'cuda'): Promise<string> {
  const fx = await loadFixtureCase(name);
  const opts = { device: device as 'cuda', dtype: 'bfloat16' as const };
  // (each load sees exactly these three variables: unset unless given)
  const loadWith = (env: Record<string, string>) => withEnv(
    { GPTNEO_CUDA_GEMV_STREAM: undefined, GPTNEO_CUDA_FUSED_LN: undefined, GPTNEO_CUDA_FUSED_KV: undefined,
      GPTNEO_CUDA_PDL: undefined, GPTNEO_CUDA_L2_PREFETCH: undefined, GPTNEO_CUDA_FUSED_LAYER: undefined, ...env },
    () => loadModel(fx.dir, opts));
  await using off = await loadWith({ GPTNEO_CUDA_GEMV_STREAM: '0', GPTNEO_CUDA_PDL: '0' });
  await using defaults = await loadWith({});
  // The persistent decode layer too, unless GN_TEST_DECODE_LAYER=0 (scripts/gpu-check.sh keeps it out until
  // its own test stage has passed: a fault in it would end this process).
  const layer = process.env.GN_TEST_DECODE_LAYER !== '0';
  await using on = await loadWith({ GPTNEO_CUDA_GEMV_STREAM: '1', GPTNEO_CUDA_FUSED_LN: '1', GPTNEO_CUDA_FUSED_KV: '1',
    GPTNEO_CUDA_PDL: '1', GPTNEO_CUDA_L2_PREFETCH: '1', ...(layer ? { GPTNEO_CUDA_FUSED_LAYER: '1' } : {}) });
  const index = device === 'cuda' ? 0 : Number(device.split(':')[1]);
  const gpu = devices().find((d) => d.type === 'cuda' && d.index === index);
  const hopper = gpu !== undefined && gpu.type === 'cuda' && Number(gpu.capability.split('.')[0]) >= 9;
  const pdl = hopper ? ['programmaticLaunch'] : [];
  const l2 = hopper ? ['l2Prefetch'] : [];
  // (wgmma, the wgmma attention and the clustered decode GEMM are process-wide choices, GPTNEO_CUDA_WGMMA,
  // GPTNEO_CUDA_WGMMA_ATTENTION and GPTNEO_CUDA_DECODE_TC read once: the same for every model, not this check's;
  // so are GPTNEO_CUDA_ROW_STAGE, GPTNEO_CUDA_DECODE_KEYS16 and GPTNEO_CUDA_DECODE_SPLIT, which the model loaded
  // last decides)
  const processWide = ['wgmma', 'wgmmaTma', 'wgmmaTmaPersistent', 'wgmmaTmaCluster', 'wgmmaAttention',
    'wgmmaAttentionPipelined', 'decodeTcCluster', 'rowStage', 'decodeKeys16', 'decodeSplitWaves'];
  const listed = (m: typeof on) => (m.info().cudaExperimental ?? []).filter((s) => !processWide.includes(s));
  assert.deepEqual(listed(off), [], `${name}: no switch with GPTNEO_CUDA_GEMV_STREAM=0 GPTNEO_CUDA_PDL=0`);
  assert.deepEqual(listed(defaults), ['gemvStream', ...pdl], `${name}: the default switches`);
  assert.deepEqual(listed(on), ['fusedLayerNorm', 'fusedKvWrite', ...(layer ? ['fusedDecodeLayer'] : []), 'gemvStream',
    ...pdl, ...l2],
    `${name}: every switch forced on`);
  const run = (m: typeof on) => Promise.all(fx.json.sequences.map((seq, i) =>
    m.generate(seq.input_ids, { maxNewTokens: 16 + 4 * i, temperature: 0, ignoreEos: true })));
  const reference = await run(off);
  for (const [what, m] of [['the defaults', defaults], ['every switch', on]] as const) {
    (await run(m)).forEach((r, i) =>
      assert.deepEqual(r.tokenIds, reference[i]!.tokenIds, `${name} sequence ${i}: greedy differs with ${what}`));
    const g = m.info().cudaGraphs;
    assert.ok(g && g.enabled && g.replays > 0, `${name}: decode graphs were not used with ${what}: ${JSON.stringify(g)}`);
  }
  return `${name} switches: greedy identical with none, the defaults ${JSON.stringify(listed(defaults))} and all ` +
    `${JSON.stringify(listed(on))} (${reference.length} concurrent sequences)`;
}

/**
 * Every request on every fixture sequence at once (20 new tokens each, EOS ignored), with the step
 * sampler set to `choice` for the duration.
 */
async function generateEverySequence(model: GptNeoModel, fx: FixtureCase, requests: SamplingOptions[],
  choice: 'native' | 'typescript'): Promise<GenerationResult[]> {
  const previous = setStepSampler(choice);
  try {
    return await Promise.all(fx.json.sequences.flatMap((seq) => requests.map((o) =>
      model.generate(seq.input_ids, { ...o, maxNewTokens: 20, ignoreEos: true }))));
  } finally {
    setStepSampler(previous);
  }
}

/**
 * Sampling in the step on the GPU (logits downloaded to a host buffer, rows sampled on a host thread
 * pool of the model's own) against the TypeScript sampler on the same device: concurrent seeded
 * requests with top-p, top-k, min-p, typical-p, penalties and logit bias give the same tokens, and the
 * rows were sampled where the switch says. (On the CPU this is test/68.engine-sampling.)
 */
export async function checkCudaStepSampling(device = 'cuda'): Promise<string> {
  const fx = await loadFixtureCase('tiny-neo-gpt2vocab');
  await using gpu = await loadModel(fx.dir, { device: device as 'cuda', dtype: 'float32' });
  const requests = [
    { temperature: 1.2, topK: 50, topP: 0.95, seed: 42 },
    { temperature: 0.8, topP: 0.9, seed: 1, repetitionPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.7,
      logitBias: { 11: 5, 13: -3 } },
    { temperature: 1, typicalP: 0.9, minP: 0.05, seed: 2 },
    { temperature: 0, repetitionPenalty: 1.5 },
  ];
  const run = (choice: 'native' | 'typescript') => generateEverySequence(gpu, fx, requests, choice);
  const s0 = gpu.stats().sampledRows;
  // Whole rows downloaded for every sampled row: the prefilter off (it is on by default on CUDA).
  const native = await withEnv({ GPTNEO_SAMPLING_PREFILTER: '0' }, () => run('native'));
  const s1 = gpu.stats().sampledRows;
  const typescript = await run('typescript');
  native.forEach((r, i) => assert.deepEqual(r.tokenIds, typescript[i]!.tokenIds, `request ${i}: the samplers differ on ${device}`));
  assert.equal(s1.typescript, s0.typescript, 'the native run sampled rows in TypeScript');
  assert.ok(s1.native - s0.native >= native.length * 20, 'the native run sampled too few rows natively');
  // The sampling prefilter (on by default on CUDA; the runs above had it off): the top-k and
  // greedy-with-penalty requests are sampled from GPU-selected candidates, the others from whole rows;
  // the tokens stay.
  const { p0, prefiltered, p1 } = await withEnv({ GPTNEO_SAMPLING_PREFILTER: undefined }, async () => {
    const before = gpu.info().samplingPrefilter!;
    assert.equal(before.enabled, true, 'the sampling prefilter is on by default on CUDA');
    return { p0: before, prefiltered: await run('native'), p1: gpu.info().samplingPrefilter! };
  });
  native.forEach((r, i) => assert.deepEqual(prefiltered[i]!.tokenIds, r.tokenIds, `request ${i}: the prefilter changed the tokens`));
  const candidateRows = p1.candidateRows - p0.candidateRows, fullRows = p1.fullRows - p0.fullRows;
  assert.ok(candidateRows >= fx.json.sequences.length * 2 * 20 && fullRows >= fx.json.sequences.length * 2 * 20,
    `prefilter rows: ${candidateRows} from candidates, ${fullRows} whole`);
  return `${device} in-step sampling: ${native.length} concurrent seeded requests, tokens identical to the TypeScript sampler` +
    ` and with the sampling prefilter on (${candidateRows} rows from GPU candidates, ${fullRows} whole)`;
}

/**
 * The device draw on the GPU (GPTNEO_SAMPLING_DRAW=1, experimental; csrc/cuda/draw.cu): concurrent
 * seeded temperature requests without top-k/top-p/typical-p (min-p, penalties and logit bias on some)
 * give the TypeScript sampler's tokens, and their rows were drawn on the GPU (a draw the kernel cannot
 * certify goes whole: at most a few); a flat top-p request without min-p (a nucleus of thousands) too,
 * its rows drawn from their nucleus on the GPU (the nucleus draw, csrc/cuda/nucleus_draw.h); and a
 * peaked top-p request with min-p (a low temperature on this random model), its rows sampled from GPU
 * candidates with the kernel's sum of their weights.
 */
export async function checkCudaDeviceDraw(device = 'cuda'): Promise<string> {
  const fx = await loadFixtureCase('tiny-neo-gpt2vocab');
  await using gpu = await loadModel(fx.dir, { device: device as 'cuda', dtype: 'float32' });
  const requests: SamplingOptions[] = [
    { temperature: 1, seed: 11 },
    { temperature: 0.7, minP: 0.05, seed: 12, repetitionPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.7,
      logitBias: { 11: 5, 13: -3 } },
    { temperature: 1.4, seed: 13, repetitionPenalty: 1.2 },
    { temperature: 0.02, topP: 0.9, typicalP: 0.95, seed: 14, repetitionPenalty: 1.2 },  // top-p: from candidates
    { temperature: 1, topP: 0.9, seed: 15, repetitionPenalty: 1.1, logitBias: { 11: 2 } },  // top-p: the nucleus draw
    { temperature: 1, topP: 0.9, minP: 0.05, seed: 16, presencePenalty: 0.4 },  // the same, min-p cutting inside it
  ];
  const run = (choice: 'native' | 'typescript') => generateEverySequence(gpu, fx, requests, choice);
  const typescript = await run('typescript');
  const { p0, drawn, p1 } = await withEnv({ GPTNEO_SAMPLING_PREFILTER: undefined, GPTNEO_SAMPLING_DRAW: '1' }, async () => {
    const before = gpu.info().samplingPrefilter!;
    assert.equal(before.draw, true, 'GPTNEO_SAMPLING_DRAW=1 turns the device draw on');
    return { p0: before, drawn: await run('native'), p1: gpu.info().samplingPrefilter! };
  });
  drawn.forEach((r, i) => assert.deepEqual(r.tokenIds, typescript[i]!.tokenIds, `request ${i}: the device draw changed the tokens`));
  const drawnRows = p1.drawnRows - p0.drawnRows, uncertain = p1.uncertainDraws - p0.uncertainDraws;
  const nucleusRows = p1.nucleusRows - p0.nucleusRows, drawnNucleus = p1.drawnNucleusRows - p0.drawnNucleusRows;
  const rows = (drawn.length / requests.length) * 20;  // per request
  assert.equal(drawnRows + uncertain, 5 * rows, `every temperature row and flat top-p row went to the draw (${drawnRows} drawn, ${uncertain} uncertain of ${5 * rows})`);
  assert.ok(uncertain <= 3, `${uncertain} uncertain draws of ${5 * rows}: the margin should make them rare`);
  assert.ok(drawnNucleus >= 2 * rows - 2 && drawnNucleus <= 2 * rows, `flat top-p rows drawn from their nucleus: ${drawnNucleus} of ${2 * rows}`);
  assert.ok(nucleusRows >= rows - 2, `top-p rows from candidates: ${nucleusRows} of ${rows}`);
  return `${device} device draw: ${drawn.length} concurrent seeded requests, tokens identical to the TypeScript ` +
    `sampler (${drawnRows - drawnNucleus} temperature rows and ${drawnNucleus} of ${2 * rows} flat top-p rows, half with ` +
    `min-p, drawn on the GPU, ` +
    `${uncertain} uncertain, sampled whole; ${nucleusRows} of ${rows} top-p rows from GPU candidates and the kernel's sum)`;
}
