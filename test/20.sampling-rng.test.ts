// The seeded generator (xoshiro128**) and the order-statistic helpers argmax / topKIndices.
import assert from 'node:assert/strict';
import { isGptNeoError } from '../lib/errors.js';
import { argmax, Rng, topKIndices } from '../lib/sampling/index.js';

/** Seeded test rows: values in [-scale, scale) from a fixed generator. */
function randomRow(length: number, seed: number, scale = 10): Float32Array {
  const rng = Rng.fromSeed(seed);
  const row = new Float32Array(length);
  for (let i = 0; i < length; i++) row[i] = (rng.next() * 2 - 1) * scale;
  return row;
}

describe('20.sampling rng', () => {
  it('implements xoshiro128** exactly (reference outputs for state 1, 2, 3, 4)', () => {
    // Outputs of the authors' C code (xoshiro128starstar.c, compiled and run) from s = {1, 2, 3, 4}.
    const rng = new Rng(1, 2, 3, 4);
    const outputs = Array.from({ length: 6 }, () => rng.nextUint32());
    assert.deepEqual(outputs, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('pins the sequence of seed 42 (same numbers on every platform and release)', () => {
    const rng = Rng.fromSeed(42);
    assert.deepEqual([rng.next(), rng.next(), rng.nextUint32()],
      [0.30358349796015693, 0.29531314899104266, 2301240992]);
  });

  it('gives the same sequence for the same seed and different ones for different seeds', () => {
    const draw = (seed: number) => { const r = Rng.fromSeed(seed); return Array.from({ length: 16 }, () => r.next()); };
    assert.deepEqual(draw(7), draw(7));
    assert.deepEqual(draw(2 ** 52 + 3), draw(2 ** 52 + 3));
    const seeds = [0, 1, 2, 7, 2 ** 32, 2 ** 32 + 1, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER];
    const firsts = new Set(seeds.map((s) => draw(s).join(',')));
    assert.equal(firsts.size, seeds.length);
  });

  it('returns floats in [0, 1) with a plausible mean', () => {
    const rng = Rng.fromSeed(123);
    const n = 20000;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.next();
      assert.ok(x >= 0 && x < 1, `out of range: ${x}`);
      sum += x;
    }
    // Mean of n uniforms: sd = sqrt(1/12/n) ≈ 0.002; 5 sd.
    assert.ok(Math.abs(sum / n - 0.5) < 5 * Math.sqrt(1 / 12 / n), `mean ${sum / n}`);
  });

  it('rejects bad seeds and an all-zero state', () => {
    assert.throws(() => Rng.fromSeed(-1), RangeError);
    assert.throws(() => Rng.fromSeed(1.5), RangeError);
    assert.throws(() => new Rng(0, 0, 0, 0), RangeError);
  });
});

describe('20.sampling argmax and topKIndices', () => {
  it('argmax picks the largest, lowest index on ties, ignoring NaN', () => {
    assert.equal(argmax(new Float32Array([1, 3, 2])), 1);
    assert.equal(argmax(new Float32Array([1, 3, 3])), 1);
    assert.equal(argmax(new Float32Array([NaN, -5, NaN])), 1);
    assert.equal(argmax(new Float32Array([-Infinity, -Infinity])), 0);
    assert.equal(argmax(new Float32Array([-Infinity, Infinity, Infinity])), 1);
    assert.equal(argmax(new Float32Array([NaN, NaN])), -1);
    assert.equal(argmax(new Float32Array(0)), -1);
  });

  it('topKIndices returns exactly k indices, largest first, ties to the lower index', () => {
    const row = new Float32Array([1, 3, 3, 2]);
    assert.deepEqual([...topKIndices(row, 0)], []);
    assert.deepEqual([...topKIndices(row, 1)], [1]);
    assert.deepEqual([...topKIndices(row, 2)], [1, 2]);
    assert.deepEqual([...topKIndices(row, 3)], [1, 2, 3]);
    assert.deepEqual([...topKIndices(row, 10)], [1, 2, 3, 0]);
    // NaN counts as -Infinity, so it ties with -Infinity and the lower index comes first.
    assert.deepEqual([...topKIndices(new Float32Array([NaN, 0, -Infinity]), 3)], [1, 0, 2]);
    assert.deepEqual([...topKIndices(new Float32Array([-Infinity, 0, NaN]), 2)], [1, 0]);
  });

  it('topKIndices matches a full sort on a GPT-2-sized row', () => {
    const row = randomRow(50257, 5);
    row[100] = row[200] = row[300] = 50; // a three-way tie at the top
    const sorted = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
    for (const k of [1, 2, 3, 4, 40, 1000]) assert.deepEqual([...topKIndices(row, k)], sorted.slice(0, k), `k=${k}`);
  });

  it('topKIndices validates k', () => {
    assert.throws(() => topKIndices(new Float32Array(3), -1), (e: unknown) => isGptNeoError(e, 'ERR_GPTNEO_INVALID_ARGUMENT'));
  });
});
