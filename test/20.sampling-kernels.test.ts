// The sampler's O(vocabulary) kernels: the native ones (csrc/cpu/sampling.cpp, what sampling uses when
// the addon loads) against their TypeScript references (lib/sampling/kernels.ts) on random rows of
// several sizes and on the awkward values: NaN, ±Infinity, signed zeros, subnormals, ties, rows with
// nothing usable. argmax and the top-k set must be identical; weights within 2 ulp of Math.exp's and
// totals within summation-order rounding. Then the native argument checks, and the whole sampler
// drawing the same tokens with either kernel set on a GPT-2-sized vocabulary.
import assert from 'node:assert/strict';
import { gaussianRow } from '../lib/bench/sampling.js';
import { loadNative } from '../lib/native/binding.js';
import { createSamplingState, Rng, SamplingScratch, sampleToken, validateSamplingOptions } from '../lib/sampling/index.js';
import { nativeKernels, setSamplingKernels, typescriptKernels, type SamplingKernels } from '../lib/sampling/kernels.js';

const native = nativeKernels();

/** Rows that exercise every special case, plus plain random ones. */
function rows(): Array<{ name: string; row: Float32Array }> {
  const out: Array<{ name: string; row: Float32Array }> = [];
  for (const [length, seed] of [[1, 1], [7, 2], [64, 3], [1000, 4], [50257, 5]] as const) {
    out.push({ name: `gaussian ${length}`, row: gaussianRow(length, seed, 3) });
  }
  const special = gaussianRow(997, 9, 2);
  special[3] = NaN; special[10] = Infinity; special[11] = -Infinity; special[500] = NaN;
  out.push({ name: 'with NaN and +Infinity', row: special });
  const noInf = gaussianRow(997, 10, 2);
  noInf[0] = NaN; noInf[5] = -Infinity; noInf[996] = NaN;
  out.push({ name: 'with NaN and -Infinity', row: noInf });
  const ties = Float32Array.from({ length: 300 }, (_, i) => (i * 7) % 13 - 6);
  out.push({ name: 'many ties', row: ties });
  out.push({ name: 'signed zeros', row: Float32Array.of(-0, 0, -0, -1, 0) });
  out.push({ name: 'subnormals', row: Float32Array.of(1e-45, -1e-45, 1e-40, 0, -1e-39) });
  out.push({ name: 'all -Infinity', row: new Float32Array(17).fill(-Infinity) });
  out.push({ name: 'all NaN', row: new Float32Array(9).fill(NaN) });
  out.push({ name: '-Infinity and NaN', row: Float32Array.of(NaN, -Infinity, NaN, -Infinity) });
  out.push({ name: 'two +Infinity', row: Float32Array.of(1, Infinity, 3, Infinity, NaN) });
  out.push({ name: 'huge spread', row: Float32Array.of(0, -800, -1e30, 3.4e38, -3.4e38, 700) });
  return out;
}

function ulpsApart(a: number, b: number): number {
  if (a === b) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  const ulp = Math.max(Math.abs(a), Math.abs(b)) * 2 ** -52;
  return Math.abs(a - b) / Math.max(ulp, Number.MIN_VALUE);
}

describe('20.sampling native kernels vs the TypeScript references', () => {
  before(function () {
    if (!native) this.skip(); // the addon always loads in this repo's test runs; kept for a broken build's clarity
  });

  it('sampling uses the native kernels when the addon loads', () => {
    const previous = setSamplingKernels(typescriptKernels);
    setSamplingKernels(previous);
    assert.equal(previous.name, 'native');
  });

  it('the working copy: identical, NaN as -Infinity', () => {
    for (const { name, row } of rows()) {
      const a = new Float32Array(row.length + 3).fill(7), b = new Float32Array(row.length + 3).fill(7);
      native!.copyRow(row, a);
      typescriptKernels.copyRow(row, b);
      assert.deepEqual(a, b, name);
      assert.ok(!a.some((v) => Number.isNaN(v)), `${name}: NaN left in the copy`);
    }
  });

  it('argmax: the same index on every row', () => {
    for (const { name, row } of rows()) assert.equal(native!.argmax(row), typescriptKernels.argmax(row), name);
    assert.equal(native!.argmax(new Float32Array(0)), -1);
  });

  it('top-k candidates: the same set, in index order, ties with the k-th kept', () => {
    for (const { name, row } of rows()) {
      for (const k of [1, 2, 5, 50, 257, 300, row.length]) {
        if (k > row.length) continue;
        const a = new Int32Array(row.length), b = new Int32Array(row.length), heap = new Int32Array(row.length);
        const na = native!.topKCandidates(row, k, a, heap);
        const nb = typescriptKernels.topKCandidates(row, k, b, heap);
        assert.equal(na, nb, `${name} k=${k}: count`);
        assert.deepEqual(a.subarray(0, na), b.subarray(0, nb), `${name} k=${k}: ids`);
      }
    }
  });

  it('weighing: same survivors; weights within 2 ulp of Math.exp; totals within rounding', () => {
    const check = (k: SamplingKernels, row: Float32Array, ids: Int32Array, count: number, temperature: number) => {
      const work = ids.slice();
      const weights = new Float64Array(row.length);
      const total = new Float64Array(1);
      const kept = k.weighCandidates(row, work, count, temperature, weights, total);
      return { kept, ids: work.subarray(0, Math.max(kept, 0)), weights, total: total[0]! };
    };
    let worstUlps = 0;
    for (const { name, row } of rows()) {
      const all = Int32Array.from({ length: row.length }, (_, i) => i);
      const topk = new Int32Array(row.length);
      const topkCount = typescriptKernels.topKCandidates(row, Math.min(40, row.length), topk, new Int32Array(row.length));
      for (const [set, ids, count] of [['all', all, row.length], ['top-40', topk, topkCount]] as const) {
        for (const temperature of [0.05, 0.7, 1, 3]) {
          const what = `${name}, ${set} candidates, T=${temperature}`;
          const a = check(native!, row, ids, count, temperature);
          const b = check(typescriptKernels, row, ids, count, temperature);
          assert.equal(a.kept, b.kept, `${what}: kept`);
          if (b.kept < 0) continue;
          assert.deepEqual(a.ids, b.ids, `${what}: survivors`);
          for (const id of b.ids) worstUlps = Math.max(worstUlps, ulpsApart(a.weights[id]!, b.weights[id]!));
          assert.ok(Math.abs(a.total - b.total) <= b.total * b.kept * 2 ** -52, `${what}: total ${a.total} vs ${b.total}`);
        }
      }
    }
    assert.ok(worstUlps <= 2, `weights differ from Math.exp by up to ${worstUlps} ulp`);
  });

  it('the min-p and top-p floors: the same survivors in the same order', () => {
    for (const { name, row } of rows()) {
      const all = Int32Array.from({ length: row.length }, (_, i) => i);
      for (const temperature of [0.3, 1, 2.5]) {
        for (const floor of [Math.log(0.05) - 1e-9, Math.log(0.5) - 1e-9, -1e-9]) {
          const a = all.slice(), b = all.slice();
          const na = native!.keepAboveLogitFloor(row, a, row.length, temperature, floor);
          const nb = typescriptKernels.keepAboveLogitFloor(row, b, row.length, temperature, floor);
          assert.equal(na, nb, `${name} T=${temperature} floor=${floor}: count`);
          assert.deepEqual(a.subarray(0, na), b.subarray(0, nb), `${name} T=${temperature} floor=${floor}: ids`);
        }
      }
      const weights = Float64Array.from(row, (v) => (Number.isFinite(v) ? Math.exp(v / 4) : v === Infinity ? 1 : 0));
      for (const floor of [0, 1e-3, 0.5, 2, Infinity]) {
        const a = all.slice(), b = all.slice();
        const na = native!.keepAboveWeightFloor(weights, a, row.length, floor);
        const nb = typescriptKernels.keepAboveWeightFloor(weights, b, row.length, floor);
        assert.equal(na, nb, `${name} weight floor ${floor}: count`);
        assert.deepEqual(a.subarray(0, na), b.subarray(0, nb), `${name} weight floor ${floor}: ids`);
      }
    }
  });

  it('the top-p nucleus: the same kept tokens in the same order (flat, peaked, tied and tiny rows)', () => {
    const cases: Array<{ name: string; weights: Float64Array }> = [];
    for (const { name, row } of rows()) {
      const finite = row.filter((v) => Number.isFinite(v));
      if (finite.length === 0) continue;
      const max = Math.max(...finite);
      cases.push({ name, weights: Float64Array.from(row, (v) => (Number.isFinite(v) ? Math.exp(v - max) : 0)) });
    }
    cases.push({ name: 'all equal', weights: new Float64Array(500).fill(0.25) });
    cases.push({ name: 'two levels', weights: Float64Array.from({ length: 333 }, (_, i) => (i % 3 === 0 ? 2 : 1)) });
    for (const { name, weights } of cases) {
      const candidates = Int32Array.from({ length: weights.length }, (_, i) => i).filter((i) => weights[i]! > 0);
      const total = candidates.reduce((s, i) => s + weights[i]!, 0);
      for (const topP of [0, 1e-9, 0.1, 0.5, 0.9, 0.95, 0.999, 1]) {
        const a = candidates.slice(), b = candidates.slice();
        const keys = new Float64Array(weights.length);
        const na = native!.keepNucleus(a, a.length, weights, keys, total, topP);
        const nb = typescriptKernels.keepNucleus(b, b.length, weights, new Float64Array(weights.length), total, topP);
        assert.equal(na, nb, `${name} topP=${topP}: count`);
        assert.deepEqual(a, b, `${name} topP=${topP}: order of every candidate`);
      }
    }
  });

  it('bad arguments get ERR_GPTNEO_INVALID_ARGUMENT, never a crash', () => {
    const addon = loadNative() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const row = gaussianRow(10, 1, 1);
    const ids = new Int32Array(10), weights = new Float64Array(10), total = new Float64Array(1);
    const bad = (f: () => unknown, what: string) =>
      assert.throws(f, (e: unknown) => (e as { code?: string }).code === 'ERR_GPTNEO_INVALID_ARGUMENT', what);
    bad(() => addon.samplingArgmax!(Array.from(row)), 'argmax of a plain array');
    bad(() => addon.samplingArgmax!(new Float64Array(3)), 'argmax of a Float64Array');
    bad(() => addon.samplingCopyRow!(row, new Float32Array(9)), 'copy into a shorter row');
    bad(() => addon.samplingCopyRow!(row, new Int32Array(10)), 'copy into an Int32Array');
    bad(() => addon.samplingTopK!(row, 0, ids), 'k = 0');
    bad(() => addon.samplingTopK!(row, 11, ids), 'k > row length');
    bad(() => addon.samplingTopK!(row, 1.5, ids), 'fractional k');
    bad(() => addon.samplingTopK!(row, 3, new Int32Array(9)), 'ids shorter than the row');
    bad(() => addon.samplingTopK!(new Float32Array(0), 1, ids), 'empty row');
    bad(() => addon.samplingWeigh!(row, ids, 11, 1, weights, total), 'count > ids length');
    bad(() => addon.samplingWeigh!(row, Int32Array.of(0, 10), 2, 1, weights, total), 'a candidate outside the row');
    bad(() => addon.samplingWeigh!(row, Int32Array.of(0, -1), 2, 1, weights, total), 'a negative candidate');
    bad(() => addon.samplingWeigh!(row, ids, 2, 0, weights, total), 'temperature 0');
    bad(() => addon.samplingWeigh!(row, ids, 2, NaN, weights, total), 'temperature NaN');
    bad(() => addon.samplingWeigh!(row, ids, 2, 1, new Float64Array(9), total), 'weights shorter than the row');
    bad(() => addon.samplingWeigh!(row, ids, 2, 1, weights, new Float64Array(0)), 'no room for the total');
    bad(() => addon.samplingLogitFloor!(row, Int32Array.of(10), 1, 1, -1), 'logit floor: a candidate outside the row');
    bad(() => addon.samplingLogitFloor!(row, ids, 2, -1, -1), 'logit floor: negative temperature');
    bad(() => addon.samplingLogitFloor!(row, ids, 2, 1, NaN), 'logit floor: NaN floor');
    bad(() => addon.samplingWeightFloor!(weights, Int32Array.of(0, 10), 2, 0.5), 'weight floor: a candidate outside');
    bad(() => addon.samplingWeightFloor!(row, ids, 2, 0.5), 'weight floor: Float32Array weights');
    bad(() => addon.samplingNucleus!(Int32Array.of(0, 10), 2, weights, new Float64Array(10), 1, 0.9), 'nucleus: id outside');
    bad(() => addon.samplingNucleus!(ids, 2, weights, new Float64Array(9), 1, 0.9), 'nucleus: keys too short');
    bad(() => addon.samplingNucleus!(ids, 2, weights, new Float64Array(10), 1, 1.5), 'nucleus: topP > 1');
    bad(() => addon.samplingNucleus!(ids, 2, weights, new Float64Array(10), 0, 0.9), 'nucleus: total 0');
  });

  it('the sampler draws the same tokens with either kernel set (GPT-2-sized rows, every filter)', function () {
    this.timeout(60_000);
    const V = 50257;
    const logits = Array.from({ length: 12 }, (_, i) => gaussianRow(V, 100 + i, 3));
    const cases = [{ temperature: 0 }, { temperature: 1 }, { temperature: 0.8, topP: 0.9 }, { temperature: 1, topK: 50 },
      { temperature: 0.7, topK: 100, topP: 0.95, minP: 0.02 }, { temperature: 1.3, typicalP: 0.9 },
      { temperature: 1, minP: 0.05, repetitionPenalty: 1.2 }];
    for (const [c, partial] of cases.entries()) {
      const opts = validateSamplingOptions({ ...partial, seed: 11 }, { vocabSize: V });
      const draws = (kernels: SamplingKernels) => {
        const previous = setSamplingKernels(kernels);
        try {
          const state = createSamplingState(Rng.fromSeed(5 + c), [1, 2, 3]);
          const scratch = new SamplingScratch();
          return logits.map((row) => sampleToken(row, opts, state, scratch));
        } finally {
          setSamplingKernels(previous);
        }
      };
      assert.deepEqual(draws(native!), draws(typescriptKernels), `case ${JSON.stringify(partial)}`);
    }
  });
});
