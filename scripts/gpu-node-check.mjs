#!/usr/bin/env node
// The Node half of scripts/gpu-check.sh, for a GPU machine without mocha: runs the CUDA model
// checks (test/helpers/cuda-model-checks.ts, compiled into dist/) and the GPU model benchmark.
// Needs dist/, build/Release/gptneo.node (built with CUDA) and node_modules/node-gyp-build.
// --prefill-only: only the prefill rows of the 1.3B-shaped model (scripts/gpu-node-tests.sh runs it again
// with the process-wide GPTNEO_CUDA_WGMMA_ATTENTION choices, which are read once per process).
// --batched-only: the bf16 fixture checks and the many-stream decode rows (gpu-node-tests.sh runs it with
// the process-wide GPTNEO_CUDA_DECODE_TC=cluster, once gpu-check's stage for that kernel passed).
// The checks of opt-in paths, and every benchmark row with switches set, run in a process of their own (this
// script with --check JSON or --row JSON): a kernel fault leaves a CUDA context unusable for the rest of its
// process, so one unverified path that faults must not take the figures of the others with it.
import { spawn } from 'node:child_process';
import { access, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
const { devices, loadModel } = await import(join(root, 'dist/lib/index.js'));
const checks = await import(join(root, 'dist/test/helpers/cuda-model-checks.js'));
const { writeRandomCheckpoint } = await import(join(root, 'dist/lib/model/random-checkpoint.js'));

// The random checkpoints, written once per preset (1.3B's 2.6 GB take seconds to write, and a dozen rows
// use it): in $GN_CHECKPOINT_CACHE when set (scripts/gpu-node-tests.sh shares one folder between its
// processes and removes it), else in a folder of this process, removed at the end.
const ownCache = process.env.GN_CHECKPOINT_CACHE ? undefined : await mkdtemp(join(tmpdir(), 'gpt-neo-checkpoints-'));
const cacheRoot = process.env.GN_CHECKPOINT_CACHE || ownCache;  // (an empty value: ours)
const childArg = (flag) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const checkChild = childArg('--check');
const rowChild = childArg('--row');
const isChild = checkChild !== undefined || rowChild !== undefined;
if (!isChild) console.log(JSON.stringify(devices()));
let failed = 0;
let passed = 0;
const prefillOnly = process.argv.includes('--prefill-only');
const batchedOnly = process.argv.includes('--batched-only');

// Runs this script again with `args` (and `env` added to this process's environment), its output
// interleaved with ours; resolves to its exit code (0 when it passed). A child that could not start, or
// ended by a signal (a native abort, an out-of-memory kill) without printing its own FAIL line, gets one here.
function runChild(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args],
      { env: { ...process.env, ...env, GN_CHECKPOINT_CACHE: cacheRoot }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (e) => {
      console.log(`FAIL child ${args.join(' ')}: ${e.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      if (code === null) console.log(`FAIL child ${args.join(' ')}: killed by ${signal}`);
      resolve(code ?? 1);
    });
  });
}

const checkFns = {
  float32: (name) => checks.checkCudaFloat32(name),
  bfloat16: (name) => checks.checkCudaBfloat16(name),
  'cuda graphs': (name) => checks.checkCudaGraphs(name),
  'run-ahead': (name) => checks.checkCudaRunAhead(name),
  'decode switches': (name) => checks.checkCudaExperimentalSwitches(name),
  embeddings: () => checks.checkCudaEmbeddings(),
  'in-step sampling': () => checks.checkCudaStepSampling(),
  'device draw': () => checks.checkCudaDeviceDraw(),
};
// Checks of paths that are opt-in and unverified on a GPU so far: each in a process of its own.
const isolatedChecks = new Set(['decode switches', 'device draw']);
// A check by name ("FIXTURE KIND" or "KIND"); it prints PASS or FAIL.
async function check(fixture, kind) {
  const name = fixture ? `${fixture} ${kind}` : kind;
  if (checkChild === undefined && isolatedChecks.has(kind)) {
    if (await runChild(['--check', JSON.stringify({ fixture, kind })]) === 0) passed++;
    else failed++;
    return;
  }
  try {
    console.log(`PASS ${name}: ${await checkFns[kind](fixture)}`);
    passed++;
  } catch (e) {
    console.log(`FAIL ${name}: ${e instanceof Error ? e.message : e}`);
    failed++;
  }
}
if (checkChild !== undefined) {
  const { fixture, kind } = JSON.parse(checkChild);
  await check(fixture, kind);
  process.exit(failed ? 1 : 0);
}
for (const name of prefillOnly || rowChild !== undefined ? [] : ['tiny-neo', 'tiny-neo-gpt2vocab']) {
  if (batchedOnly) {
    await check(name, 'bfloat16');
    await check(name, 'decode switches');
    continue;
  }
  for (const kind of ['float32', 'bfloat16', 'cuda graphs', 'run-ahead', 'decode switches']) await check(name, kind);
}
if (!prefillOnly && !batchedOnly && rowChild === undefined) {
  for (const kind of ['embeddings', 'in-step sampling', 'device draw']) await check(undefined, kind);
}

// Decode tokens/s on GPT-Neo-shaped random weights (bf16), batch 1/8/32, through the whole stack.
// graphs=false: the same with CUDA-graph decode steps off (their effect, in the same run).
// sampling: options for the timed streams instead of greedy (e.g. top-p: logits come back to Node).
// kvCacheDtype: 'float32' to compare with the default bf16 cache of a bf16 model.
// env: environment variables set while the model loads (the CUDA backend reads its decode switches,
// GPTNEO_CUDA_GEMV_STREAM, GPTNEO_CUDA_PDL, GPTNEO_CUDA_FUSED_LN, GPTNEO_CUDA_FUSED_KV, GPTNEO_CUDA_L2_PREFETCH and
// GPTNEO_CUDA_FUSED_LAYER, when it is created; the sampling
// prefilter's GPTNEO_SAMPLING_PREFILTER is read at every step).
// runAhead: the load option (default 16; 1 = one decode step per native call).
// Prefill tokens/s (all logits) and the time to first token of a 2000-token prompt (last row only),
// tagged with the wgmma attention choice when one is set.
async function prefillRows(model, preset, ids) {
  const tag = process.env.GPTNEO_CUDA_WGMMA_ATTENTION ? ` wgmma_attention=${process.env.GPTNEO_CUDA_WGMMA_ATTENTION}` : '';
  const long = ids(512, 5);
  await model.forward(long);
  const t1 = performance.now();
  for (let i = 0; i < 3; i++) await model.forward(long);
  console.log(`BENCH ${preset}${tag} prefill 512 (all logits): ${(3 * 512 / ((performance.now() - t1) / 1000)).toFixed(0)} tok/s`);
  const prompt = ids(2000, 9);
  await model.generate(prompt, { maxNewTokens: 1, temperature: 0 });
  const t2 = performance.now();
  for (let i = 0; i < 3; i++) await model.generate(ids(2000, 10 + i), { maxNewTokens: 1, temperature: 0 });
  console.log(`BENCH ${preset}${tag} time to first token, 2000-token prompt: ${((performance.now() - t2) / 3).toFixed(1)} ms ` +
    `experimental ${JSON.stringify(model.info().cudaExperimental ?? [])}`);
}

async function checkpointDir(preset) {
  const dir = join(cacheRoot, preset);
  try {
    await access(join(dir, 'config.json'));  // complete: written under another name, then renamed
    return dir;
  } catch {
    const partial = await mkdtemp(join(cacheRoot, `${preset}-writing-`));
    await writeRandomCheckpoint(partial, { preset, seed: 1234, dtype: 'bfloat16' });
    await rename(partial, dir);
    return dir;
  }
}

async function decodeBench(preset, streamsList, newTokens, options = {}) {
  const { graphs = true, sampling = undefined, kvCacheDtype = 'auto', env = {}, runAhead = undefined, prompt = 32 } = options;
  if (Object.keys(env).length > 0 && rowChild === undefined) {  // a row with switches: a process of its own
    const code = await runChild(['--row', JSON.stringify({ preset, streamsList, newTokens, options })], env);
    if (code !== 0) failed++;  // (the child, or runChild for a killed one, printed what failed)
    return;
  }
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  try {
    const dir = await checkpointDir(preset);
    Object.assign(process.env, env);
    const t0 = performance.now();
    const model = await loadModel(dir, { device: 'cuda', dtype: 'bfloat16', contextSize: 2048, kvCacheTokens: 32 * 256 + 2048,
      cudaGraphs: graphs, kvCacheDtype, ...(runAhead === undefined ? {} : { runAhead }) });
    const tag = (graphs ? '' : ' graphs=off') + (sampling ? ` sampling=${JSON.stringify(sampling)}` : '') +
      (runAhead === undefined ? '' : ` runahead=${runAhead}`) +
      (kvCacheDtype === 'auto' ? '' : ` kv=${kvCacheDtype}`) + (prompt === 32 ? '' : ` prompt=${prompt}`) +
      Object.entries(env).map(([k, v]) => ` ${k.replace('GPTNEO_CUDA_', '').replace('GPTNEO_', '').toLowerCase()}=${v}`).join('') +
      (process.env.GPTNEO_CUDA_WGMMA_ATTENTION ? ` wgmma_attention=${process.env.GPTNEO_CUDA_WGMMA_ATTENTION}` : '') +
      (process.env.GPTNEO_CUDA_DECODE_TC ? ` decode_tc=${process.env.GPTNEO_CUDA_DECODE_TC}` : '');
    console.log(`BENCH ${preset}${tag} load ${(performance.now() - t0).toFixed(0)} ms, weights ${(model.info().weightBytes / 1e9).toFixed(3)} GB`);
    const ids = (n, s) => Array.from({ length: n }, (_, i) => (i * 7919 + s * 104729) % 50000);
    for (const streams of streamsList) {
      await Promise.all(Array.from({ length: streams }, (_, i) => model.generate(ids(32, i), { maxNewTokens: 8, temperature: 0, ignoreEos: true })));
      let firstDone = 0;
      let start = 0;
      const runs = Array.from({ length: streams }, async (_, i) => {
        let n = 0;
        const opts = { maxNewTokens: newTokens, ignoreEos: true, ...(sampling ?? { temperature: 0 }) };
        for await (const _c of model.stream(ids(prompt, i + 100), opts)) {
          if (n++ === 0 && ++firstDone === streams) start = performance.now();
        }
        return n - 1;
      });
      const tokens = (await Promise.all(runs)).reduce((a, b) => a + b, 0);
      const s = (performance.now() - start) / 1000;
      console.log(`BENCH ${preset}${tag} decode streams=${streams}: ${(tokens / s).toFixed(1)} tok/s aggregate`);
    }
    console.log(`BENCH ${preset}${tag} graphs ${JSON.stringify(model.info().cudaGraphs)} kv ${model.info().kvDtype}` +
      ` ${(model.info().kvBytes / 1e9).toFixed(3)} GB experimental ${JSON.stringify(model.info().cudaExperimental ?? [])}` +
      ` runahead ${JSON.stringify(model.stats().runAhead)} prefilter ${JSON.stringify(model.info().samplingPrefilter)}`);
    if (!graphs || sampling || kvCacheDtype !== 'auto' || Object.keys(env).length > 0 || runAhead !== undefined ||
      prompt !== 32) {
      await model.dispose();
      return;
    }
    await prefillRows(model, preset, ids);
    await model.dispose();
  } catch (e) {  // one row's failure is reported and the next row runs
    console.log(`FAIL row ${preset} ${JSON.stringify(options)}: ${e instanceof Error ? e.stack : e}`);
    failed++;
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
async function removeOwnCache() {
  if (ownCache) await rm(ownCache, { recursive: true, force: true });
}

if (rowChild !== undefined) {
  const { preset, streamsList, newTokens, options } = JSON.parse(rowChild);
  await decodeBench(preset, streamsList, newTokens, options);  // (reports its own failure)
  await removeOwnCache();
  process.exit(failed ? 1 : 0);
}

try {
  if (prefillOnly) {
    // (decodeBench prints its prefill rows after one decode run: the cheapest way to a loaded model)
    await decodeBench('1.3b', [1], 16);
    await removeOwnCache();
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  }
  if (batchedOnly) {
    await decodeBench('125m', [8, 32], 128);
    await decodeBench('1.3b', [8, 32], 64);
    await removeOwnCache();
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  }
  // Most telling first (the stage is time-boxed): the defaults, the unverified paths that would become
  // defaults (the persistent layer, the device draw), then the switches' comparisons.
  await decodeBench('125m', [1, 8, 32], 128);
  await decodeBench('1.3b', [1, 8, 32], 64);  // (32: the many-stream row the clustered decode GEMM is compared with)
  const prefetch = { GPTNEO_CUDA_L2_PREFETCH: '1' };
  // The persistent decode layer (opt-in; one launch per layer of a one-sequence step), once gpu-check's
  // stage for its tests passed: on its own (with the fusions whose results it equals) and with L2 prefetch
  // for the kernels around it.
  if (process.env.GN_BENCH_DECODE_LAYER === '1') {
    const layer = { GPTNEO_CUDA_FUSED_LAYER: '1', GPTNEO_CUDA_FUSED_LN: '1', GPTNEO_CUDA_FUSED_KV: '1' };
    await decodeBench('1.3b', [1], 64, { env: layer });
    await decodeBench('125m', [1], 128, { env: layer });
    await decodeBench('125m', [1], 128, { env: { ...layer, ...prefetch } });
  }
  // Plain temperature sampling (OpenAI's default): whole rows downloaded, and drawn on the GPU with the
  // device draw (GPTNEO_SAMPLING_DRAW=1, experimental: one word per row comes back).
  const temperature = { temperature: 1, seed: 1 };
  await decodeBench('125m', [1, 32], 128, { sampling: temperature });
  await decodeBench('125m', [1, 32], 128, { sampling: temperature, env: { GPTNEO_SAMPLING_DRAW: '1' } });
  await decodeBench('125m', [1, 32], 128, { sampling: temperature, env: { GPTNEO_SAMPLING_DRAW: '1', GPTNEO_CUDA_ROW_STAGE: '1' } });
  // Top-p on peaked rows (temperature 0.1 sharpens these random weights to a nucleus of a few tokens, as a
  // trained model's often is): whole rows, and with the draw on, drawn from their nucleus on the GPU (the
  // nucleus draw, csrc/cuda/nucleus_draw.h), or from the top candidates and the kernel's sum
  // (csrc/cpu/nucleus_bound.h) for rows with typical-p.
  const peakedTopP = { temperature: 0.1, topP: 0.9, seed: 1 };
  await decodeBench('125m', [1, 32], 128, { sampling: peakedTopP });
  await decodeBench('125m', [1, 32], 128, { sampling: peakedTopP, env: { GPTNEO_SAMPLING_DRAW: '1' } });
  await decodeBench('125m', [1, 32], 128, { sampling: { ...peakedTopP, typicalP: 0.99 }, env: { GPTNEO_SAMPLING_DRAW: '1' } });
  // Flat top-p rows (the usual client setting on these random weights: a nucleus of thousands): whole rows,
  // and drawn from their nucleus on the GPU.
  const flatTopP = { temperature: 0.8, topP: 0.9, seed: 1 };
  await decodeBench('125m', [1, 32], 128, { sampling: flatTopP });
  await decodeBench('125m', [1, 32], 128, { sampling: flatTopP, env: { GPTNEO_SAMPLING_DRAW: '1' } });
  await decodeBench('125m', [1, 32], 128, { sampling: { ...flatTopP, minP: 0.05 }, env: { GPTNEO_SAMPLING_DRAW: '1' } });
  // Top-k sampling: rows from GPU-selected candidates (the sampling prefilter, on by default on CUDA)
  // and from whole rows of logits downloaded (GPTNEO_SAMPLING_PREFILTER=0).
  const topK = { temperature: 0.8, topK: 50, repetitionPenalty: 1.1, seed: 1 };
  await decodeBench('125m', [1, 32], 128, { sampling: topK });
  // The same with the sampling kernels' row staged in shared memory (GPTNEO_CUDA_ROW_STAGE=1, opt-in; process-wide,
  // set by every model as it loads, so the rows after run without it), and whole rows.
  await decodeBench('125m', [1, 32], 128, { sampling: topK, env: { GPTNEO_CUDA_ROW_STAGE: '1' } });
  await decodeBench('125m', [1, 32], 128, { sampling: topK, env: { GPTNEO_SAMPLING_PREFILTER: '0' } });
  // Long contexts, where the decode attention reads most of a step's bytes (8 x 1024-token prompts): the bf16
  // cache's kernel with 4 keys per lane group in flight (default) and 8 (GPTNEO_CUDA_DECODE_KEYS16=8, opt-in).
  await decodeBench('1.3b', [8], 128, { prompt: 1024 });
  await decodeBench('1.3b', [8], 128, { prompt: 1024, env: { GPTNEO_CUDA_DECODE_KEYS16: '8' } });
  // And the wave-aware split plan (GPTNEO_CUDA_DECODE_SPLIT=waves, opt-in): ~1150 keys in 3 splits of 384 (one
  // wave of the bf16-cache kernel's 3 x 132 resident blocks) where the fill plan makes 5 of 256 (two waves).
  await decodeBench('1.3b', [8], 128, { prompt: 1024, env: { GPTNEO_CUDA_DECODE_SPLIT: 'waves' } });
  // One decode step per native call: what greedy run-ahead (the default) saves.
  await decodeBench('125m', [1, 8], 128, { runAhead: 1 });
  await decodeBench('1.3b', [1], 64, { runAhead: 1 });
  // The streaming GEMV's L2 weight prefetch (opt-in, read when the model loads): alone and with both fusions.
  await decodeBench('1.3b', [1], 64, { env: prefetch });
  await decodeBench('1.3b', [1], 64, { env: { ...prefetch, GPTNEO_CUDA_FUSED_LN: '1', GPTNEO_CUDA_FUSED_KV: '1' } });
  await decodeBench('125m', [1, 8], 128, { env: { ...prefetch, GPTNEO_CUDA_FUSED_LN: '1', GPTNEO_CUDA_FUSED_KV: '1' } });
  // The decode switches (csrc/cuda/NOTES.md rounds 5 and 8): the kernels before them (streaming GEMV
  // and programmatic launch off), the streaming GEMV for every row count it serves (the default stops
  // at 4), the folded layer norm (opt-in; its layer norm spread over the whole block since run 4) and the
  // kv_write done by the attention kernel (opt-in, not yet run), alone and together: the fewest launches.
  const before = { GPTNEO_CUDA_GEMV_STREAM: '0', GPTNEO_CUDA_PDL: '0' };
  await decodeBench('1.3b', [1, 8], 64, { env: before });
  await decodeBench('125m', [1, 8], 128, { env: before });
  await decodeBench('1.3b', [1, 8], 64, { env: { GPTNEO_CUDA_GEMV_STREAM: '1' } });
  await decodeBench('1.3b', [1], 64, { env: { GPTNEO_CUDA_FUSED_LN: '1' } });
  await decodeBench('1.3b', [1], 64, { env: { GPTNEO_CUDA_FUSED_KV: '1' } });
  await decodeBench('1.3b', [1], 64, { env: { GPTNEO_CUDA_FUSED_LN: '1', GPTNEO_CUDA_FUSED_KV: '1' } });
  await decodeBench('125m', [1, 8], 128, { env: { GPTNEO_CUDA_FUSED_LN: '1', GPTNEO_CUDA_FUSED_KV: '1' } });
  // CUDA graphs off, an fp32 KV cache. (Flat top-p rows: above, beside the nucleus draw.)
  await decodeBench('125m', [1, 8], 128, { graphs: false });
  await decodeBench('1.3b', [1], 64, { graphs: false });
  await decodeBench('1.3b', [8], 64, { kvCacheDtype: 'float32' });
} catch (e) {
  console.log(`FAIL bench: ${e instanceof Error ? e.stack : e}`);
  failed++;
}
await removeOwnCache();
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
