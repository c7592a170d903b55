// The in-step native sampler (csrc/cpu/row_sampler.cpp, reached through samplingSampleRows, the same
// code a step with output 'sample' runs) against the TypeScript sampler `sampleToken`, its reference:
// the same token on every row, for seeded rows of several vocabulary sizes (GPT-2's included), every
// option and combination of options, logit bias and penalties with their state, special values (NaN,
// ±Infinity, ties) and rows with nothing usable (the native -1 where TypeScript throws
// ERR_GPTNEO_INTERNAL). Both use the native kernels, so the only difference left is Math.log against
// std::log in typical-p (within rounding); no row here lands on it. Then the argument checks.
import assert from 'node:assert/strict';
import { isGptNeoError } from '../lib/errors.js';
import { gaussianRow } from '../lib/bench/sampling.js';
import { loadNative } from '../lib/native/binding.js';
import {
  packSamplingRows, Rng, SamplingScratch, sampleToken, validateSamplingOptions, PenaltyHistory,
  type NativeSamplingRow, type NativeSamplingRows, type SamplingOptions, type SamplingState,
} from '../lib/sampling/index.js';
import { biasArrays } from '../lib/sampling/native-rows.js';

const addon = (() => {
  try {
    return loadNative();
  } catch {
    return undefined;
  }
})();

interface Case {
  name: string;
  row: Float32Array;
  options: SamplingOptions;
  promptIds: number[];
  generated: number[];
  u: number;
}

/** The TypeScript verdict: a token id, or -1 where sampleToken throws for lack of a usable logit. */
function reference(c: Case, scratch: SamplingScratch): number {
  const V = c.row.length;
  const opts = validateSamplingOptions(c.options, { vocabSize: V });
  const tokenCounts = new Map<number, number>();
  for (const id of c.generated) tokenCounts.set(id, (tokenCounts.get(id) ?? 0) + 1);
  const state: SamplingState = {
    rng: { next: () => c.u },
    tokenCounts,
    promptAndGeneratedIds: new Set([...c.promptIds, ...c.generated]),
  };
  try {
    return sampleToken(c.row, opts, state, scratch);
  } catch (e) {
    assert.ok(isGptNeoError(e) && e.code === 'ERR_GPTNEO_INTERNAL', `${c.name}: unexpected ${String(e)}`);
    assert.match(e.message, /every logit is NaN or -Infinity/);
    return -1;
  }
}

/** The native row, built the way the engine builds it (PenaltyHistory, biasArrays). */
function nativeRow(c: Case): NativeSamplingRow {
  const opts = validateSamplingOptions(c.options, { vocabSize: c.row.length });
  const history = new PenaltyHistory(c.promptIds, opts.repetitionPenalty !== 1,
    opts.presencePenalty !== 0 || opts.frequencyPenalty !== 0);
  for (const id of c.generated) history.record(id);
  const bias = biasArrays(opts.logitBias);
  const counts = history.counts();
  return { options: opts, u: opts.temperature === 0 ? 0 : c.u, seenIds: history.seenIds().slice(),
    countIds: counts.ids.slice(), counts: counts.counts.slice(), biasIds: bias.ids, biasValues: bias.values };
}

/** Runs the cases (all of one vocabulary size) through both samplers in one native batch. */
function compare(cases: Case[]): { rows: number; errors: number } {
  const V = cases[0]!.row.length;
  const logits = new Float32Array(cases.length * V);
  cases.forEach((c, i) => logits.set(c.row, i * V));
  const got = addon!.samplingSampleRows!(logits, V, packSamplingRows(cases.map(nativeRow)));
  const scratch = new SamplingScratch();
  let errors = 0;
  cases.forEach((c, i) => {
    const want = reference(c, scratch);
    if (want < 0) errors++;
    assert.equal(got[i], want, `${c.name}: native ${got[i]} vs TypeScript ${want}`);
  });
  return { rows: cases.length, errors };
}

/** Seeded ids in [0, V). */
function ids(n: number, V: number, rng: Rng): number[] {
  return Array.from({ length: n }, () => Math.floor(rng.next() * V));
}

const PENALTIES: Array<[string, SamplingOptions]> = [
  ['no penalty', {}],
  ['repetition 1.3', { repetitionPenalty: 1.3 }],
  ['repetition 0.7, presence 0.5, frequency -0.7', { repetitionPenalty: 0.7, presencePenalty: 0.5, frequencyPenalty: -0.7 }],
  ['presence -2, frequency 2', { presencePenalty: -2, frequencyPenalty: 2 }],
  ['bias', {}],  // logit bias is added per case (ids depend on V)
  ['bias + every penalty', { repetitionPenalty: 1.15, presencePenalty: 1, frequencyPenalty: 0.3 }],
];

/** Every combination of the filters, with each penalty set, on seeded rows of length V. */
function combinations(V: number, seed: number, filterSets: SamplingOptions[]): Case[] {
  const rng = Rng.fromSeed(seed);
  const out: Case[] = [];
  let n = 0;
  for (const filters of filterSets) {
    for (const [penaltyName, penalties] of PENALTIES) {
      const row = gaussianRow(V, seed * 1000 + n++, 1 + 3 * rng.next());
      const promptIds = ids(1 + Math.floor(rng.next() * 40), V, rng);
      const generated = ids(Math.floor(rng.next() * 30), V, rng);
      generated.push(...generated.slice(0, 5));  // some tokens generated more than once
      const options: SamplingOptions = { ...filters, ...penalties, seed: 1 };
      if (penaltyName.startsWith('bias')) {
        options.logitBias = Object.fromEntries(ids(6, V, rng).map((id, i) => [id, [-100, -3.25, 0.5, 7, 100, -0.1][i]!]));
      }
      out.push({ name: `V=${V} ${JSON.stringify(filters)} ${penaltyName}`, row, options, promptIds, generated, u: rng.next() });
    }
  }
  return out;
}

function filterProduct(V: number): SamplingOptions[] {
  const sets: SamplingOptions[] = [];
  for (const temperature of [0, 0.3, 1, 1.7]) {
    for (const topK of [0, 1, 40, V]) {
      for (const topP of [1, 0.95, 0.5, 0]) {
        for (const minP of [0, 0.05, 0.5]) {
          for (const typicalP of [1, 0.9, 0.2]) sets.push({ temperature, topK, topP, minP, typicalP });
        }
      }
    }
  }
  return sets;
}

describe('20.sampling in the native step vs the TypeScript sampler', () => {
  before(function () {
    if (!addon?.samplingSampleRows) this.skip(); // the addon always loads in this repo's test runs
  });

  it('every combination of temperature, top-k, top-p, min-p, typical-p and penalties (V = 1000)', function () {
    this.timeout(60_000);
    const { rows } = compare(combinations(1000, 3, filterProduct(1000)));
    assert.equal(rows, 4 * 4 * 4 * 3 * 3 * PENALTIES.length);
  });

  it('GPT-2-sized rows (V = 50257) with the common option sets', function () {
    this.timeout(60_000);
    const sets: SamplingOptions[] = [{ temperature: 0 }, { temperature: 1 }, { temperature: 0.8, topP: 0.9 },
      { temperature: 1, topK: 50 }, { temperature: 0.7, topK: 100, topP: 0.95, minP: 0.02 }, { temperature: 1.3, typicalP: 0.9 },
      { temperature: 1, minP: 0.05 }, { temperature: 0.9, topP: 0.8, typicalP: 0.95, minP: 0.01 }];
    compare(combinations(50257, 4, sets));
  });

  it('many seeded draws from one row land on the same tokens (top-p 0.9, repetition penalty)', () => {
    const V = 50257;
    const row = gaussianRow(V, 77, 3);
    const rng = Rng.fromSeed(78);
    const cases = Array.from({ length: 200 }, (_, i): Case => ({ name: `draw ${i}`, row, u: rng.next(), promptIds: [1, 2, 3],
      generated: [4, 5, 5], options: { temperature: 0.8, topP: 0.9, repetitionPenalty: 1.1, seed: 1 } }));
    compare(cases);
  });

  it('tiny vocabularies (1, 2, 7) and every filter', () => {
    for (const V of [1, 2, 7]) compare(combinations(V, 5, filterProduct(V).filter((_, i) => i % 3 === 0)));
  });

  it('NaN, ±Infinity, ties and rows with nothing usable: the same token, or -1 where TypeScript throws', () => {
    const special = gaussianRow(997, 9, 2);
    special[3] = NaN; special[10] = Infinity; special[11] = -Infinity; special[500] = NaN;
    const nanNegInf = gaussianRow(997, 10, 2);
    nanNegInf[0] = NaN; nanNegInf[5] = -Infinity; nanNegInf[996] = NaN;
    const rows: Array<[string, Float32Array]> = [
      ['NaN and +Infinity', special], ['NaN and -Infinity', nanNegInf],
      ['many ties', Float32Array.from({ length: 300 }, (_, i) => (i * 7) % 13 - 6)],
      ['two +Infinity', Float32Array.of(1, Infinity, 3, Infinity, NaN)],
      ['huge spread', Float32Array.of(0, -800, -1e30, 3.4e38, -3.4e38, 700)],
      ['all NaN', new Float32Array(9).fill(NaN)],
      ['all -Infinity', new Float32Array(17).fill(-Infinity)],
      ['-Infinity and NaN', Float32Array.of(NaN, -Infinity, NaN, -Infinity)],
    ];
    const optionSets: SamplingOptions[] = [{ temperature: 0 }, { temperature: 1 }, { temperature: 0.5, topK: 3 },
      { temperature: 1, topP: 0.7 }, { temperature: 1, minP: 0.2 }, { temperature: 1, typicalP: 0.5 },
      { temperature: 0, repetitionPenalty: 2, presencePenalty: 1 }, { temperature: 1.2, topK: 2, topP: 0.9, minP: 0.1 }];
    let errors = 0;
    for (const [name, row] of rows) {
      const cases = optionSets.flatMap((options, i) => [0, 0.3, 0.999999].map((u): Case => ({
        name: `${name} ${JSON.stringify(options)} u=${u}`, row, u, promptIds: [0, 1], generated: i % 2 ? [2, 2] : [],
        options: { ...options, seed: 1, ...(i === 7 ? { logitBias: { 1: 5 } } : {}) },
      })));
      errors += compare(cases).errors;
    }
    // The three rows with no usable logit fail under every option set, except where a +5 bias lifts one.
    assert.ok(errors >= 3 * 7 * 3, `only ${errors} rows had no usable logit`);
  });

  it('one row with nothing usable does not affect the others of its batch', () => {
    const V = 64;
    const good = gaussianRow(V, 1, 2);
    const cases: Case[] = [0, 1, 2].map((i) => ({ name: `row ${i}`, row: i === 1 ? new Float32Array(V).fill(NaN) : good,
      u: 0.5, promptIds: [], generated: [], options: { temperature: 1, seed: 1 } }));
    const { errors } = compare(cases);
    assert.equal(errors, 1);
  });

  it('bad arguments get ERR_GPTNEO_INVALID_ARGUMENT naming the field, never a crash', () => {
    const sample = addon!.samplingSampleRows!;
    const V = 10;
    const logits = new Float32Array(2 * V);
    const opts = validateSamplingOptions({ temperature: 1, seed: 1 }, { vocabSize: V });
    const row: NativeSamplingRow = { options: opts, u: 0.5, seenIds: Int32Array.of(1, 2), countIds: Int32Array.of(3),
      counts: Int32Array.of(2), biasIds: Int32Array.of(4), biasValues: Float64Array.of(1) };
    const good = packSamplingRows([row, row]);
    assert.equal(sample(logits, V, good).length, 2);
    const bad = (over: Partial<Record<keyof NativeSamplingRows, unknown>>, message: RegExp, logitsArg: unknown = logits,
      vocab: unknown = V) => assert.throws(() => (sample as (...a: unknown[]) => unknown)(logitsArg, vocab, { ...good, ...over }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_GPTNEO_INVALID_ARGUMENT' && message.test((e as Error).message),
      `${JSON.stringify(Object.keys(over))} ${message}`);
    bad({}, /logits/, Array.from(logits));
    bad({}, /vocabSize/, logits, 0);
    bad({}, /vocabSize/, logits, 1.5);
    bad({}, /whole rows/, logits, 3);
    bad({ temperature: Float64Array.of(1) }, /one entry per output row in temperature/);
    bad({ temperature: [1, 1] }, /Float64Array for temperature/);
    bad({ topK: Float64Array.of(0, 0) }, /Int32Array for topK/);
    bad({ temperature: Float64Array.of(1, -1) }, /temperature .* \(row 1\)/);
    bad({ temperature: Float64Array.of(NaN, 1) }, /temperature/);
    bad({ topK: Int32Array.of(0, -1) }, /topK/);
    bad({ topP: Float64Array.of(1.5, 1) }, /topP/);
    bad({ minP: Float64Array.of(1, -0.1) }, /minP/);
    bad({ typicalP: Float64Array.of(0, 1) }, /typicalP/);
    bad({ repetitionPenalty: Float64Array.of(0, 1) }, /repetitionPenalty/);
    bad({ repetitionPenalty: Float64Array.of(Infinity, 1) }, /repetitionPenalty/);
    bad({ presencePenalty: Float64Array.of(2.5, 0) }, /presencePenalty/);
    bad({ frequencyPenalty: Float64Array.of(0, NaN) }, /frequencyPenalty/);
    bad({ u: Float64Array.of(1, 0) }, /u must be in \[0, 1\)/);
    bad({ u: Float64Array.of(-0.1, 0) }, /u must be in/);
    bad({ seenStarts: Int32Array.of(0, 2) }, /seenStarts/);
    bad({ seenStarts: Int32Array.of(1, 2, 4) }, /seenStarts must start at 0/);
    bad({ seenStarts: Int32Array.of(0, 3, 2) }, /seenStarts must not decrease/);
    bad({ seenStarts: Int32Array.of(0, 2, 3) }, /seenStarts must end/);
    bad({ seenIds: Int32Array.of(1, 2, 1, 10) }, /seenIds holds a token id outside/);
    bad({ seenIds: Int32Array.of(1, 2, -1, 2) }, /seenIds holds a token id outside/);
    bad({ seenIds: Int32Array.of(1, 1, 1, 2) }, /seenIds holds a token id twice/);
    bad({ countIds: Int32Array.of(3, 3), counts: Int32Array.of(2) }, /counts must have one entry per count id/);
    bad({ counts: Int32Array.of(0, 2) }, /counts must be positive/);
    bad({ countIds: Int32Array.of(3, 11) }, /countIds holds a token id outside/);
    bad({ biasIds: Int32Array.of(4, 12) }, /biasIds holds a token id outside/);
    bad({ biasValues: Float64Array.of(1) }, /biasValues must have one entry per bias id/);
    bad({ biasValues: Float64Array.of(1, 101) }, /biasValues must be in \[-100, 100\]/);
    bad({ biasValues: Float64Array.of(NaN, 1) }, /biasValues/);
    bad({ biasIds: undefined }, /Int32Array for biasIds/);
    assert.throws(() => (sample as (...a: unknown[]) => unknown)(logits, V, null),
      (e: unknown) => (e as { code?: string }).code === 'ERR_GPTNEO_INVALID_ARGUMENT');
  });
});
