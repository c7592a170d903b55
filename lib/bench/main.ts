#!/usr/bin/env node
/**
 * `npm run bench` / `gpt-neo bench`: model and tokenizer benchmarks on this machine.
 * Without --model it writes a seeded GPT-Neo-125M-shaped random checkpoint to a temporary
 * folder (removed afterwards). Prints a table; --json FILE also writes every figure.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { devices } from '../devices.js';
import { loadNative } from '../native/binding.js';
import { writeRandomCheckpoint } from '../model/random-checkpoint.js';
import { runModelBench } from './model-bench.js';
import { runTokenizerBench } from './tokenizer.js';

interface Figure { name: string; unit: string; median: number; spread: number; bound?: number; boundKind?: string }

export async function benchMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' },
    dtype: { type: 'string', default: 'float32' },
    threads: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    'skip-tokenizer': { type: 'boolean', default: false },
    json: { type: 'string' },
    compare: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  } });
  if (values.help) {
    process.stdout.write(`Usage: gpt-neo bench [--model DIR] [--dtype float32|bfloat16|float16] [--threads N]
                   [--repeats N] [--quick] [--skip-tokenizer] [--json FILE] [--compare BASELINE.json]\n`);
    return 0;
  }
  const cpu = devices().find((d) => d.type === 'cpu')!;
  const threads = values.threads ? Number(values.threads) : (cpu as { threads: number }).threads;
  const dtype = values.dtype as 'float32' | 'bfloat16' | 'float16';
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown', simd: (cpu as { simd: string }).simd, threads, node: process.version,
    date: new Date().toISOString(), dtype,
  };
  process.stderr.write(`machine: ${machine.cpu}, simd ${machine.simd}, ${threads} threads, ${dtype}, Node ${machine.node}\n`);

  // The machine's own ceilings, measured in this run (1 GiB read: larger than the caches).
  const limits = await loadNative().measureMachineLimits({ threads, readBytes: 1 << 30 });
  // bf16 matrix products run on the AMX tiles where the 'amx' path is in use: their rate bounds them.
  const matrixGflops = dtype === 'bfloat16' && limits.amxBf16Gflops ? limits.amxBf16Gflops : limits.fmaGflops;
  const amx = limits.amxBf16Gflops ? `, AMX bf16 ${limits.amxBf16Gflops.toFixed(0)} GFLOP/s` : '';
  process.stderr.write(`bounds: FMA ${limits.fmaGflops.toFixed(1)} GFLOP/s${amx}, read ${limits.readGbs.toFixed(1)} GB/s (${threads} threads)\n`);
  let dir = values.model;
  let tmp: string | undefined;
  if (!dir) {
    tmp = await mkdtemp(join(tmpdir(), 'gpt-neo-bench-'));
    dir = tmp;
    process.stderr.write('writing a seeded GPT-Neo-125M-shaped random checkpoint...\n');
    await writeRandomCheckpoint(dir, { preset: '125m', seed: 1234, dtype: 'float32' });
  }
  const figures: Figure[] = [];
  try {
    const m = await runModelBench({ dir, dtype, threads, repeats: Number(values.repeats), quick: values.quick });
    figures.push({ name: 'load (page cache warm)', unit: 'ms', median: m.loadMs.median, spread: m.loadMs.spread });
    for (const r of m.rows) {
      // decode ≤ bandwidth ÷ weight bytes per step × tokens per step; compute-bound ≤ matrix rate ÷ FLOPs per unit.
      const bound = !r.bound ? undefined : r.bound.kind === 'bandwidth'
        ? Math.min(limits.readGbs * 1e9 / r.bound.bytesPerStep * r.bound.tokensPerStep,
          matrixGflops * 1e9 / (2 * r.bound.bytesPerStep / (dtype === 'float32' ? 4 : 2)))
        : matrixGflops * 1e9 / r.bound.flopsPerUnit;
      figures.push({ name: r.name, unit: r.unit, median: r.result.median, spread: r.result.spread, bound, boundKind: r.bound?.kind });
    }
    process.stderr.write(`backend ${m.backend}, prepared weights ${(m.weightBytes / 1e6).toFixed(1)} MB\n`);
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
  if (!values['skip-tokenizer']) {
    const rows = await runTokenizerBench({ corpusBytes: values.quick ? 1 << 20 : 10 << 20, repeats: Number(values.repeats) });
    for (const r of rows) figures.push({ name: `tokenizer encode: ${r.name}`, unit: 'MB/s', median: r.mbPerSec, spread: r.spread });
  }

  const fmt = (x: number) => x.toFixed(x < 10 ? 2 : 1);
  const lines = [`| figure | median | unit | spread | bound | achieved/bound |`, `| --- | ---: | --- | ---: | ---: | ---: |`];
  for (const f of figures) {
    const bound = f.bound === undefined ? '—' : `${fmt(f.bound)} (${f.boundKind})`;
    const ratio = f.bound === undefined ? '—' : `${(100 * f.median / f.bound).toFixed(0)}%`;
    lines.push(`| ${f.name} | ${fmt(f.median)} | ${f.unit} | ${(100 * f.spread).toFixed(1)}% | ${bound} | ${ratio} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.compare) {
    const base = JSON.parse(await readFile(values.compare, 'utf8')) as { figures: Figure[] };
    for (const f of figures) {
      const b = base.figures.find((x) => x.name === f.name);
      if (!b) continue;
      const better = f.unit === 'ms' ? b.median / f.median : f.median / b.median;
      if (better < 0.9) process.stdout.write(`REGRESSION: ${f.name}: ${f.median.toFixed(1)} vs ${b.median.toFixed(1)} ${f.unit}\n`);
    }
  }
  if (values.json) await writeFile(values.json, JSON.stringify({ machine, limits, figures }, null, 2));
  return 0;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').slice(-3).join('/'))) {
  benchMain(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
