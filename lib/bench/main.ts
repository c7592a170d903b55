#!/usr/bin/env node
/**
 * `npm run bench` / `gpt-neo bench`: model and tokenizer benchmarks on this machine.
 * Without --model it writes a seeded GPT-Neo-125M-shaped random checkpoint to a temporary
 * folder (removed afterwards). Prints a table; --json FILE also writes every figure.
 * Peers (onnxruntime-node, CPU fp32, when installed) run the same workload on the same checkpoint in
 * the same run; each row they share shows their figure and ours/theirs. --no-peers skips them.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { devices } from '../devices.js';
import { loadNative } from '../native/binding.js';
import type { WeightDType } from '../model/options.js';
import { writeRandomCheckpoint } from '../model/random-checkpoint.js';
import { runModelBench } from './model-bench.js';
import { runOnnxRuntimePeer, type PeerOutcome } from './peers/onnxruntime.js';
import { runSamplingBench } from './sampling.js';
import { runStepOverheadBench } from './step-overhead.js';
import { runStepSamplingBench, STEP_SAMPLING_MODEL } from './step-sampling.js';
import { runTokenizerBench } from './tokenizer.js';

/** Bytes per stored weight (int8's per-channel scales are negligible here). */
const WEIGHT_BYTES: Record<WeightDType, number> = { float32: 4, bfloat16: 2, float16: 2, int8: 1 };

interface PeerFigure { peer: string; median: number; spread: number }
interface Figure {
  name: string; unit: string; median: number; spread: number; bound?: number; boundKind?: string; peer?: PeerFigure;
}

export async function benchMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' },
    dtype: { type: 'string', default: 'float32' },
    threads: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    'skip-tokenizer': { type: 'boolean', default: false },
    'sampling-only': { type: 'boolean', default: false },
    'no-peers': { type: 'boolean', default: false },
    json: { type: 'string' },
    compare: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  } });
  if (values.help) {
    process.stdout.write(`Usage: gpt-neo bench [--model DIR] [--dtype float32|bfloat16|float16|int8] [--threads N]
                   [--repeats N] [--quick] [--skip-tokenizer] [--sampling-only] [--no-peers] [--json FILE]
                   [--compare BASELINE.json]
  --sampling-only: only the sampling figures (one row; concurrent top-p streams, TypeScript vs in-step).
  Peers: onnxruntime-node (CPU, fp32), when installed, measured in the same run; --no-peers skips them.\n`);
    return 0;
  }
  const cpu = devices().find((d) => d.type === 'cpu')!;
  const threads = values.threads ? Number(values.threads) : (cpu as { threads: number }).threads;
  const dtype = values.dtype as WeightDType;
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown', simd: (cpu as { simd: string }).simd, threads, node: process.version,
    date: new Date().toISOString(), dtype,
  };
  process.stderr.write(`machine: ${machine.cpu}, simd ${machine.simd}, ${threads} threads, ${dtype}, Node ${machine.node}\n`);

  // The machine's own ceilings, measured in this run (1 GiB read: larger than the caches).
  const limits = await loadNative().measureMachineLimits({ threads, readBytes: 1 << 30 });
  // bf16 and int8 matrix products run on the AMX tiles where the 'amx' path is in use: their rate bounds them.
  const onTiles = dtype === 'bfloat16' || dtype === 'int8';
  const matrixGflops = onTiles && limits.amxBf16Gflops ? limits.amxBf16Gflops : limits.fmaGflops;
  const amx = limits.amxBf16Gflops ? `, AMX bf16 ${limits.amxBf16Gflops.toFixed(0)} GFLOP/s` : '';
  process.stderr.write(`bounds: FMA ${limits.fmaGflops.toFixed(1)} GFLOP/s${amx}, read ${limits.readGbs.toFixed(1)} GB/s (${threads} threads)\n`);
  let dir = values.model;
  let tmp: string | undefined;
  if (!dir && !values['sampling-only']) {
    tmp = await mkdtemp(join(tmpdir(), 'gpt-neo-bench-'));
    dir = tmp;
    process.stderr.write('writing a seeded GPT-Neo-125M-shaped random checkpoint...\n');
    await writeRandomCheckpoint(dir, { preset: '125m', seed: 1234, dtype: 'float32' });
  }
  const figures: Figure[] = [];
  const peers: Record<string, PeerOutcome> = {};
  try {
    if (dir) {  // absent with --sampling-only
      const m = await runModelBench({ dir, dtype, threads, repeats: Number(values.repeats), quick: values.quick });
      figures.push({ name: 'load (page cache warm)', unit: 'ms', median: m.loadMs.median, spread: m.loadMs.spread });
      for (const r of m.rows) {
        // decode ≤ bandwidth ÷ weight bytes per step × tokens per step; compute-bound ≤ matrix rate ÷ FLOPs per unit.
        const bound = !r.bound ? undefined : r.bound.kind === 'bandwidth'
          ? Math.min(limits.readGbs * 1e9 / r.bound.bytesPerStep * r.bound.tokensPerStep,
            matrixGflops * 1e9 / (2 * r.bound.bytesPerStep / WEIGHT_BYTES[dtype]))
          : matrixGflops * 1e9 / r.bound.flopsPerUnit;
        figures.push({ name: r.name, unit: r.unit, median: r.result.median, spread: r.result.spread, bound, boundKind: r.bound?.kind });
      }
      process.stderr.write(`backend ${m.backend}, prepared weights ${(m.weightBytes / 1e6).toFixed(1)} MB\n`);
      if (values['no-peers']) {
        peers.onnxruntime = { skipped: '--no-peers' };
      } else {
        peers.onnxruntime = await measurePeer(dir, threads, Number(values.repeats), values.quick, dtype);
        if ('ok' in peers.onnxruntime) {
          for (const [name, result] of peers.onnxruntime.ok.rows) {
            const f = figures.find((x) => x.name === name);
            if (f) f.peer = { peer: 'onnxruntime', median: result.median, spread: result.spread };
          }
        }
      }
    }
    await stepSamplingFigures(figures, threads, Number(values.repeats), values.quick);
    if (!values['sampling-only']) await stepOverheadFigure(figures, Number(values.repeats));
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
  if (!values['skip-tokenizer'] && !values['sampling-only']) {
    const rows = await runTokenizerBench({ corpusBytes: values.quick ? 1 << 20 : 10 << 20, repeats: Number(values.repeats) });
    for (const r of rows) figures.push({ name: `tokenizer encode: ${r.name}`, unit: 'MB/s', median: r.mbPerSec, spread: r.spread });
  }
  // One token from a 50257-logit row: native kernels, and their TypeScript references in the same run.
  for (const r of runSamplingBench(Number(values.repeats))) {
    figures.push({ name: `sampling one row: ${r.name}`, unit: 'us', median: r.nativeUs, spread: r.spread });
    figures.push({ name: `sampling one row: ${r.name} (TypeScript kernels)`, unit: 'us', median: r.typescriptUs,
      spread: r.typescriptSpread });
  }

  const fmt = (x: number) => x.toFixed(x < 10 ? 2 : 1);
  const withPeer = figures.some((f) => f.peer);
  const lines = withPeer
    ? [`| figure | median | unit | spread | bound | achieved/bound | onnxruntime (spread) | ours/onnxruntime |`,
      `| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |`]
    : [`| figure | median | unit | spread | bound | achieved/bound |`, `| --- | ---: | --- | ---: | ---: | ---: |`];
  for (const f of figures) {
    const bound = f.bound === undefined ? '—' : `${fmt(f.bound)} (${f.boundKind})`;
    const ratio = f.bound === undefined ? '—' : `${(100 * f.median / f.bound).toFixed(0)}%`;
    let line = `| ${f.name} | ${fmt(f.median)} | ${f.unit} | ${(100 * f.spread).toFixed(1)}% | ${bound} | ${ratio} |`;
    if (withPeer) {
      // Every peer row is a rate (tok/s, seq/s): above 1 means we are faster.
      line += f.peer ? ` ${fmt(f.peer.median)} (${(100 * f.peer.spread).toFixed(1)}%) | ${(f.median / f.peer.median).toFixed(2)}x |` : ' — | — |';
    }
    lines.push(line);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.compare) {
    const base = JSON.parse(await readFile(values.compare, 'utf8')) as { figures: Figure[] };
    for (const f of figures) {
      const b = base.figures.find((x) => x.name === f.name);
      if (!b) continue;
      const better = f.unit === 'ms' || f.unit === 'us' ? b.median / f.median : f.median / b.median;
      if (better < 0.9) process.stdout.write(`REGRESSION: ${f.name}: ${f.median.toFixed(1)} vs ${b.median.toFixed(1)} ${f.unit}\n`);
    }
  }
  if (values.json) {
    const peerSummary = Object.fromEntries(Object.entries(peers).map(([name, p]) => [name, 'skipped' in p ? p
      : { logitsMaxAbsDiff: p.ok.logitsMaxAbsDiff, logitsMaxAbs: p.ok.logitsMaxAbs, exportMs: p.ok.exportMs, onnxBytes: p.ok.onnxBytes }]));
    await writeFile(values.json, JSON.stringify({ machine, limits, figures, peers: peerSummary }, null, 2));
  }
  return 0;
}

/**
 * Concurrent top-p streams with the TypeScript sampler forced and with the in-step native sampler, in
 * the same run (step-sampling.ts), on a small random GPT-Neo-shaped model with the real vocabulary.
 */
async function stepSamplingFigures(figures: Figure[], threads: number, repeats: number, quick: boolean): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gpt-neo-bench-sampling-'));
  try {
    await writeRandomCheckpoint(dir, { ...STEP_SAMPLING_MODEL, seed: 4321, dtype: 'float32' });
    const rows = await runStepSamplingBench({ dir, threads, repeats: Math.max(repeats, 3), streams: quick ? [8] : [8, 32],
      newTokens: quick ? 16 : 48 });
    const m = STEP_SAMPLING_MODEL;
    for (const r of rows) {
      const what = { native: 'top-p, in-step native sampler, run-ahead', 'native-single': 'top-p, in-step native sampler, one step per call',
        typescript: 'top-p, TypeScript sampler', greedy: 'greedy (native argmax, run-ahead, floor)' }[r.mode];
      const name = `${r.streams} streams ${m.numLayers}x${m.hiddenSize} model V 50257, ${what}`;
      figures.push({ name: `${name}: generation`, unit: 'tok/s', median: r.tokensPerSecond.median, spread: r.tokensPerSecond.spread });
      figures.push({ name: `${name}: event loop busy per step`, unit: 'ms', median: r.busyMsPerStep.median,
        spread: r.busyMsPerStep.spread });
      if (r.mode !== 'typescript') {
        figures.push({ name: `${name}: tok/s vs TypeScript sampler, paired repeats`, unit: 'x', median: r.pairedSpeedup.median,
          spread: r.pairedSpeedup.spread });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Host cost per decode token on the tiny random model (step-overhead.ts). */
async function stepOverheadFigure(figures: Figure[], repeats: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gpt-neo-bench-tiny-'));
  try {
    await writeRandomCheckpoint(dir, { preset: 'tiny', seed: 99, dtype: 'float32' });
    const m = await runStepOverheadBench(dir, repeats);
    figures.push({ name: 'decode step host overhead (tiny 4x64 model, greedy, 1 stream, one step per call)', unit: 'us',
      median: m.singleStep.median, spread: m.singleStep.spread });
    figures.push({ name: `decode step host overhead, greedy run-ahead (${m.stepsPerCall.toFixed(1)} steps per call)`,
      unit: 'us', median: m.runAhead.median, spread: m.runAhead.spread });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** onnxruntime's figures on the same checkpoint; a failure skips the peer (with its reason), never our figures. */
async function measurePeer(dir: string, threads: number, repeats: number, quick: boolean, dtype: string): Promise<PeerOutcome> {
  const log = (line: string): void => { process.stderr.write(`${line}\n`); };
  process.stderr.write('peer: onnxruntime-node (CPU, float32, graph optimization "all")...\n');
  let outcome: PeerOutcome;
  try {
    outcome = await runOnnxRuntimePeer({ dir, threads, repeats, quick, log });
  } catch (e) {
    outcome = { skipped: `onnxruntime failed: ${e instanceof Error ? e.message : String(e)}` };
  }
  if ('skipped' in outcome) log(`peer onnxruntime skipped: ${outcome.skipped}`);
  else if (dtype !== 'float32') log(`note: our figures are ${dtype}, onnxruntime's float32`);
  return outcome;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').slice(-3).join('/'))) {
  benchMain(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
