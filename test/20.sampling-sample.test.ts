// sampleToken / samplingDistribution on crafted logits: every processor and filter with hand-computed
// expectations, the draw itself, seeding, and a comparison with a literal (full-sort) transcription of
// Hugging Face's logits processors on random rows, including GPT-2-sized ones.
import assert from 'node:assert/strict';
import { isGptNeoError } from '../lib/errors.js';
import {
  applyRepetitionPenalty, argmax, createSamplingState, recordToken, Rng, Sampler, SamplingScratch, sampleToken,
  samplingDistribution, validateSamplingOptions, type NormalizedSamplingOptions, type RandomSource, type SamplingOptions,
  type SamplingState,
} from '../lib/sampling/index.js';

const options = (partial: SamplingOptions, vocabSize = 4): NormalizedSamplingOptions =>
  validateSamplingOptions({ seed: 1, ...partial }, { vocabSize });

function historyState(promptIds: number[] = [], generated: number[] = [], rng: RandomSource = Rng.fromSeed(1)): SamplingState {
  const state = createSamplingState(rng, promptIds);
  for (const id of generated) recordToken(state, id);
  return state;
}

const fromProbs = (probs: number[]): Float32Array => Float32Array.from(probs, Math.log);

function softmax(xs: number[]): number[] {
  const max = xs.reduce((a, b) => Math.max(a, b), -Infinity);
  const e = xs.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function distribution(logits: Float32Array, partial: SamplingOptions, state = historyState()): Map<number, number> {
  return samplingDistribution(logits, options(partial, logits.length), state);
}

/** Same token ids, and each probability within `tolerance`. */
function assertDistribution(actual: Map<number, number>, expected: Record<number, number>, tolerance = 1e-6): void {
  const ids = [...actual.keys()].sort((a, b) => a - b);
  assert.deepEqual(ids, Object.keys(expected).map(Number).sort((a, b) => a - b), `token ids of ${JSON.stringify([...actual])}`);
  for (const id of ids) {
    assert.ok(Math.abs(actual.get(id)! - expected[id]) <= tolerance, `p(${id}) = ${actual.get(id)} but expected ${expected[id]}`);
  }
}

/** Seeded test rows: values in [-scale, scale). */
function randomRow(length: number, seed: number, scale = 10): Float32Array {
  const rng = Rng.fromSeed(seed);
  return Float32Array.from({ length }, () => (rng.next() * 2 - 1) * scale);
}

/** A generator that replays fixed values (to test the draw itself), or fails if greedy consults it. */
const replay = (values: number[]): RandomSource => ({
  next: () => {
    const v = values.shift();
    if (v === undefined) throw new Error('random source consulted more often than expected');
    return v;
  },
});

const P4 = [0.5, 0.25, 0.15, 0.1];

describe('20.sampling sampleToken', () => {
  describe('greedy (temperature 0)', () => {
    it('picks the argmax, ties to the lowest id, without consuming randomness', () => {
      const state = historyState([], [], replay([]));
      assert.equal(sampleToken(new Float32Array([0, 2, 1, 2]), options({ temperature: 0 }), state), 1);
      assert.equal(sampleToken(new Float32Array([-3, -1, -2, -1.5]), options({ temperature: 0 }), state), 1);
      assertDistribution(distribution(new Float32Array([1, 5, 2, 3]), { temperature: 0 }), { 1: 1 });
    });

    it('topK = 1 samples the argmax at any temperature', () => {
      for (let seed = 0; seed < 20; seed++) {
        const row = randomRow(1000, 100 + seed);
        for (const temperature of [0.1, 1, 10, 1000]) {
          const token = sampleToken(row, options({ topK: 1, temperature, seed }, row.length), historyState([], [], Rng.fromSeed(seed)));
          assert.equal(token, argmax(row), `seed ${seed}, temperature ${temperature}`);
        }
      }
    });
  });

  describe('temperature and filters', () => {
    it('plain sampling draws from softmax(logits / temperature)', () => {
      const logits = new Float32Array([1, 2, 3, 0]);
      const expected = softmax([1, 2, 3, 0].map((x) => x / 2));
      assertDistribution(distribution(logits, { temperature: 2 }), { ...expected });
      assertDistribution(distribution(fromProbs(P4), {}), { ...P4 });
    });

    it('topK keeps the k largest logits and every token tied with the k-th (Hugging Face)', () => {
      const e = softmax([3, 2]);
      assertDistribution(distribution(new Float32Array([0, 1, 2, 3]), { topK: 2 }), { 3: e[0], 2: e[1] });
      assertDistribution(distribution(new Float32Array([1, 3, 3, 2]), { topK: 1 }), { 1: 0.5, 2: 0.5 });
      assertDistribution(distribution(fromProbs(P4), { topK: 4 }), { ...P4 });
      assertDistribution(distribution(fromProbs(P4), { topK: 100 }), { ...P4 });
    });

    it('topP keeps the minimal nucleus', () => {
      // Sorted probabilities 0.5, 0.25, 0.15, 0.1: cumulative 0.5, 0.75, 0.9, 1.
      assertDistribution(distribution(fromProbs(P4), { topP: 0.4 }), { 0: 1 });
      assertDistribution(distribution(fromProbs(P4), { topP: 0.7 }), { 0: 2 / 3, 1: 1 / 3 });
      assertDistribution(distribution(fromProbs(P4), { topP: 0.8 }), { 0: 0.5 / 0.9, 1: 0.25 / 0.9, 2: 0.15 / 0.9 });
      assertDistribution(distribution(fromProbs(P4), { topP: 0.95 }), { ...P4 });
      assertDistribution(distribution(fromProbs(P4), { topP: 0 }), { 0: 1 });
      // The order of ids does not matter; the probabilities do.
      assertDistribution(distribution(fromProbs([0.1, 0.15, 0.5, 0.25]), { topP: 0.7 }), { 2: 2 / 3, 3: 1 / 3 });
    });

    it('topP breaks ties by the lower id (uniform row: exactly the first half for topP 0.5)', () => {
      const half = distribution(new Float32Array(1000), { topP: 0.5 });
      assert.deepEqual([...half.keys()].sort((a, b) => a - b), Array.from({ length: 500 }, (_, i) => i));
      for (const p of half.values()) assert.equal(p, 1 / 500);
      assert.equal(distribution(new Float32Array(1000), { typicalP: 0.5 }).size, 1000); // all tied: typical keeps all
    });

    it('topP applies to the tempered distribution', () => {
      // T = 2: probabilities ∝ sqrt(P4) = 0.370, 0.262, 0.203, 0.166; cumulative 0.370, 0.632, 0.834.
      const t = softmax(P4.map((p) => Math.log(p) / 2));
      const kept = t[0] + t[1] + t[2];
      assertDistribution(distribution(fromProbs(P4), { topP: 0.7, temperature: 2 }), { 0: t[0] / kept, 1: t[1] / kept, 2: t[2] / kept });
    });

    it('topP applies after topK, to the top-k renormalized distribution', () => {
      // topK 2 → 2/3, 1/3; the nucleus for 0.6 is then the first token alone.
      assertDistribution(distribution(fromProbs(P4), { topK: 2, topP: 0.6 }), { 0: 1 });
      assertDistribution(distribution(fromProbs(P4), { topP: 0.6 }), { 0: 2 / 3, 1: 1 / 3 });
    });

    it('minP drops tokens below minP × the top probability', () => {
      assertDistribution(distribution(fromProbs(P4), { minP: 0.4 }), { 0: 2 / 3, 1: 1 / 3 });
      assertDistribution(distribution(fromProbs(P4), { minP: 0.25 }), { 0: 0.5 / 0.9, 1: 0.25 / 0.9, 2: 0.15 / 0.9 });
      assertDistribution(distribution(fromProbs(P4), { minP: 0.1 }), { ...P4 });
      assertDistribution(distribution(fromProbs(P4), { minP: 1 }), { 0: 1 });
    });

    it('typicalP keeps the tokens closest to the entropy (hand-computed)', () => {
      // H = −Σ p ln p = 1.2080; |−ln p − H| = 0.5148, 0.1783, 0.6891, 1.0946 → order 1, 0, 2, 3;
      // cumulative probability in that order 0.25, 0.75, 0.90, 1.
      assertDistribution(distribution(fromProbs(P4), { typicalP: 0.2 }), { 1: 1 }); // drops the most likely token
      assertDistribution(distribution(fromProbs(P4), { typicalP: 0.5 }), { 0: 2 / 3, 1: 1 / 3 });
      assertDistribution(distribution(fromProbs(P4), { typicalP: 0.8 }), { 0: 0.5 / 0.9, 1: 0.25 / 0.9, 2: 0.15 / 0.9 });
      assertDistribution(distribution(fromProbs(P4), { typicalP: 0.95 }), { ...P4 });
    });
  });

  describe('history and bias', () => {
    it('repetition penalty divides positive and multiplies negative logits of seen ids (Hugging Face)', () => {
      const row = new Float32Array([2, -2, 1, 0.5]);
      applyRepetitionPenalty(row, new Set([0, 1]), 2);
      assert.deepEqual([...row], [1, -4, 1, 0.5]);
      // Through the sampler: prompt id 0 and generated id 1 both count; a repeated id counts once.
      const state = historyState([0], [1, 1, 1]);
      const expected = softmax([1, -4, 1, 0.5]);
      assertDistribution(distribution(new Float32Array([2, -2, 1, 0.5]), { repetitionPenalty: 2 }, state), { ...expected });
      // Greedy flips when the penalized best falls below the runner-up: 3 / 1.5 = 2 < 2.9.
      assert.equal(sampleToken(new Float32Array([3, 2.9, 0, 0]), options({ temperature: 0, repetitionPenalty: 1.5 }), historyState([0])), 1);
      assert.equal(sampleToken(new Float32Array([3, 2.9, 0, 0]), options({ temperature: 0, repetitionPenalty: 1.5 }), historyState([2])), 0);
    });

    it('presence and frequency penalties count generated tokens only (OpenAI)', () => {
      // Generated 0 ×3 and 2 ×1: logit −= 0.5·(count > 0) + 0.25·count. Prompt id 1 is not counted.
      const state = historyState([1], [0, 0, 0, 2]);
      const expected = softmax([-1.25, 0, -0.75, 0]);
      assertDistribution(distribution(new Float32Array(4), { presencePenalty: 0.5, frequencyPenalty: 0.25 }, state), { ...expected });
      const negative = softmax([0.5, 0, 0.5, 0]); // a negative presence penalty encourages repeats
      assertDistribution(distribution(new Float32Array(4), { presencePenalty: -0.5 }, historyState([1], [0, 2])), { ...negative });
    });

    it('logitBias adds to logits: −100 bans in practice and +100 forces', () => {
      const row = new Float32Array([5, 4, 3, 2]);
      assert.equal(sampleToken(row, options({ temperature: 0, logitBias: { 0: -100 } }), historyState()), 1);
      assert.equal(sampleToken(row, options({ temperature: 0, logitBias: { 3: 100 } }), historyState()), 3);
      const banned = distribution(row, { logitBias: { 0: -100 } });
      assert.ok(banned.get(0)! < 1e-40);
      const shifted = softmax([5 - 1.5, 4, 3, 2]);
      assertDistribution(distribution(row, { logitBias: { 0: -1.5 } }), { ...shifted });
      const sampler = new Sampler(options({ logitBias: { 0: -100, 3: 100 } }));
      for (let i = 0; i < 2000; i++) assert.equal(sampler.sample(row), 3);
      const banSampler = new Sampler(options({ logitBias: { 0: -100 }, temperature: 5 }));
      for (let i = 0; i < 2000; i++) assert.notEqual(banSampler.sample(row), 0);
    });

    it('the Sampler records its tokens and forced ones for the penalties', () => {
      const sampler = new Sampler(options({ temperature: 0, frequencyPenalty: 2 }), { promptIds: [3] });
      const row = new Float32Array([1, 2.5, 0, 9]);
      // Prompt id 3 is not penalized by frequency: greedy stays on 3 until generated 3 builds up.
      assert.equal(sampler.sample(row), 3); // 9
      assert.equal(sampler.sample(row), 3); // 9 − 2 = 7
      assert.equal(sampler.sample(row), 3); // 9 − 4 = 5
      assert.equal(sampler.sample(row), 3); // 9 − 6 = 3 > 2.5
      assert.equal(sampler.sample(row), 1); // 9 − 8 = 1 < 2.5
      sampler.record(1);
      sampler.record(1); // 2.5 − 6 = −3.5 now
      assert.equal(sampler.sample(row), 0); // 1 ties with 9 − 8 = 1: the lower id wins
      assert.deepEqual([...sampler.state.tokenCounts].sort((a, b) => a[0] - b[0]), [[0, 1], [1, 3], [3, 4]]);
    });
  });

  describe('the draw', () => {
    it('inverts the cumulative distribution with one value per token', () => {
      const logits = fromProbs([0.5, 0.3, 0.2]);
      const state = historyState([], [], replay([0, 0.49, 0.51, 0.79, 0.81, 0.999999]));
      const opts = options({}, 3);
      const tokens = Array.from({ length: 6 }, () => sampleToken(logits, opts, state));
      assert.deepEqual(tokens, [0, 0, 1, 1, 2, 2]);
      // Token i owns [i/4, (i+1)/4) of a uniform row: the boundaries belong to the next token.
      const uniform = historyState([], [], replay([0, 0.25, 0.5, 0.75, 0.2499]));
      const drawn = Array.from({ length: 5 }, () => sampleToken(new Float32Array(4), options({}), uniform));
      assert.deepEqual(drawn, [0, 1, 2, 3, 0]);
    });

    it('walks a top-p nucleus in increasing id order (as a multinomial over the vocabulary), not by rank', () => {
      // Nucleus of 0.7 over [0.25, 0.1, 0.5, 0.15]: tokens 2 (0.5) and 0 (0.25), renormalized to 2/3 and 1/3.
      // By id, token 0 owns [0, 1/3) and token 2 [1/3, 1); by rank token 2 would own [0, 2/3).
      const logits = fromProbs([0.25, 0.1, 0.5, 0.15]);
      const state = historyState([], [], replay([0.2, 0.3, 0.34, 0.9]));
      const opts = options({ topP: 0.7 }, 4);
      assert.deepEqual(Array.from({ length: 4 }, () => sampleToken(logits, opts, state)), [0, 0, 2, 2]);
    });

    it('matches the probabilities over many seeded draws (within 5 binomial standard deviations)', () => {
      const probs = [0.5, 0.3, 0.2];
      const logits = fromProbs(probs);
      const opts = options({}, 3);
      const state = historyState([], [], Rng.fromSeed(2024));
      const scratch = new SamplingScratch();
      const n = 30000;
      const counts = [0, 0, 0];
      for (let i = 0; i < n; i++) counts[sampleToken(logits, opts, state, scratch)]++;
      probs.forEach((p, id) => {
        const sd = Math.sqrt(n * p * (1 - p));
        assert.ok(Math.abs(counts[id] - n * p) < 5 * sd, `token ${id}: ${counts[id]} of ${n}, expected ${n * p} ± ${5 * sd}`);
      });
    });

    it('samplers sharing one scratch (as an engine would) give the same tokens as on their own', () => {
      const rows = Array.from({ length: 20 }, (_, i) => randomRow(1000, 700 + i, 3));
      const make = (seed: number, scratch?: SamplingScratch) =>
        new Sampler(options({ seed, topK: 100, topP: 0.9, repetitionPenalty: 1.1 }, 1000), { promptIds: [1, 2], scratch });
      const shared = new SamplingScratch();
      const [a, b] = [make(1, shared), make(2, shared)];
      const interleaved = rows.map((row) => [a.sample(row), b.sample(row)]);
      const [aloneA, aloneB] = [make(1), make(2)];
      assert.deepEqual(interleaved, rows.map((row) => [aloneA.sample(row), aloneB.sample(row)]));
    });

    it('the same seed gives the same tokens; another seed gives others', () => {
      const rows = Array.from({ length: 50 }, (_, i) => randomRow(1000, 500 + i, 3));
      const run = (seed: number) => {
        const sampler = new Sampler(options({ seed, topK: 50, topP: 0.95 }, 1000));
        return rows.map((row) => sampler.sample(row));
      };
      assert.deepEqual(run(7), run(7));
      assert.notDeepEqual(run(7), run(8));
    });
  });

  describe('robustness', () => {
    it('treats NaN as −Infinity and samples uniformly among +Infinity logits', () => {
      assert.equal(sampleToken(new Float32Array([NaN, 1, 0]), options({ temperature: 0 }, 3), historyState()), 1);
      assertDistribution(distribution(new Float32Array([NaN, 1, 0]), {}), { 1: Math.E / (Math.E + 1), 2: 1 / (Math.E + 1) });
      assertDistribution(distribution(new Float32Array([Infinity, 1, Infinity]), { topP: 0.9 }), { 0: 0.5, 2: 0.5 });
      // Fewer usable logits than topK: all of them stay, with or without a penalty (copied or read in place).
      const sparse = new Float32Array([NaN, NaN, 1, 0, NaN]);
      assertDistribution(distribution(sparse, { topK: 3 }), { 2: Math.E / (Math.E + 1), 3: 1 / (Math.E + 1) });
      assertDistribution(distribution(sparse, { topK: 3, repetitionPenalty: 2 }, historyState([2])), { 2: Math.exp(0.5) / (Math.exp(0.5) + 1), 3: 1 / (Math.exp(0.5) + 1) });
      for (const partial of [{ minP: 0.5 }, { topP: 0.9 }, { typicalP: 0.9 }, { topK: 4, topP: 0.5 }]) {
        assert.ok(!distribution(sparse, partial).has(0), JSON.stringify(partial));
      }
      assert.equal(sampleToken(sparse, options({ temperature: 0 }, 5), historyState()), 2);
    });

    it('throws ERR_GPTNEO_INTERNAL when no logit is usable', () => {
      const isInternal = (e: unknown) => isGptNeoError(e, 'ERR_GPTNEO_INTERNAL') && /every logit is NaN or -Infinity/.test(e.message);
      for (const temperature of [0, 1]) {
        for (const row of [new Float32Array([NaN, NaN]), new Float32Array([-Infinity, NaN]), new Float32Array(0)]) {
          assert.throws(() => sampleToken(row, options({ temperature, topK: 1 }, 2), historyState()), isInternal);
        }
      }
    });

    it('leaves the logits untouched and gives the same answer with fresh, reused or larger scratch', () => {
      const row = randomRow(777, 9);
      const copy = row.slice();
      const opts = options({ seed: 3, topK: 40, topP: 0.9, repetitionPenalty: 1.2, logitBias: { 5: 3 } }, 777);
      const big = new SamplingScratch();
      big.ensure(50257);
      const reused = new SamplingScratch();
      const tokens = [undefined, reused, reused, big].map((scratch) =>
        sampleToken(row, opts, historyState([1, 2, 5], [], Rng.fromSeed(3)), scratch));
      assert.deepEqual(row, copy);
      assert.equal(new Set(tokens).size, 1, `tokens ${tokens}`);
      // Without bias or penalties the row is read in place: still untouched, NaN included.
      row[7] = NaN;
      const withNaN = row.slice();
      for (const partial of [{}, { temperature: 0 }, { topK: 5 }, { topP: 0.5, minP: 0.1, typicalP: 0.9 }]) {
        samplingDistribution(row, options(partial, 777), historyState());
        sampleToken(row, options(partial, 777), historyState());
      }
      assert.deepEqual(new Uint32Array(row.buffer), new Uint32Array(withNaN.buffer));
    });
  });
});

/**
 * A literal transcription of Hugging Face's processors (full sorts, float64 after the float32 penalty
 * steps): temperature, TopK, TopP (ascending cumulative sum <= 1 − p removed), MinP, Typical.
 */
function referenceDistribution(logits: Float32Array, o: NormalizedSamplingOptions, state: SamplingState): Map<number, number> {
  const V = logits.length;
  const x = Float32Array.from(logits, (v) => (Number.isNaN(v) ? -Infinity : v));
  for (const [id, bias] of o.logitBias) x[id] += bias;
  for (const id of state.promptAndGeneratedIds) x[id] = x[id] < 0 ? x[id] * o.repetitionPenalty : x[id] / o.repetitionPenalty;
  for (const [id, count] of state.tokenCounts) x[id] -= o.presencePenalty * (count > 0 ? 1 : 0) + o.frequencyPenalty * count;
  let s = Array.from(x, (v) => v / o.temperature);
  const ids = Array.from({ length: V }, (_, i) => i);
  const remove = (drop: (i: number) => boolean) => { s = s.map((v, i) => (drop(i) ? -Infinity : v)); };
  if (o.topK > 0 && o.topK < V) {
    const kth = [...s].sort((a, b) => b - a)[o.topK - 1];
    remove((i) => s[i] < kth);
  }
  if (o.topP < 1) {
    const p = softmax(s);
    const ascending = [...ids].sort((a, b) => p[a] - p[b] || b - a);
    const dropped = new Set<number>();
    let cumulative = 0;
    ascending.forEach((id, rank) => {
      cumulative += p[id];
      if (cumulative <= 1 - o.topP && rank < V - 1) dropped.add(id);
    });
    remove((i) => dropped.has(i));
  }
  if (o.minP > 0) {
    const p = softmax(s);
    const top = p.reduce((a, b) => Math.max(a, b), 0);
    remove((i) => p[i] < o.minP * top);
  }
  if (o.typicalP < 1) {
    const p = softmax(s);
    const logp = p.map(Math.log);
    const entropy = -p.reduce((acc, pi, i) => (pi > 0 ? acc + pi * logp[i] : acc), 0);
    const shifted = logp.map((l) => Math.abs(-l - entropy));
    const order = [...ids].sort((a, b) => shifted[a] - shifted[b] || a - b);
    let cumulative = 0;
    let lastIndex = 0;
    for (const id of order) { cumulative += p[id]; if (cumulative < o.typicalP) lastIndex++; }
    const limit = shifted[order[Math.min(lastIndex, V - 1)]];
    remove((i) => shifted[i] > limit && i !== order[0]);
  }
  const p = softmax(s);
  return new Map(p.flatMap((pi, i) => (pi > 0 ? [[i, pi] as [number, number]] : [])));
}

describe('20.sampling against a literal Hugging Face transcription', () => {
  const combos: SamplingOptions[] = [
    { temperature: 1 }, { temperature: 0.7, topK: 40 }, { topP: 0.9 }, { temperature: 1.3, topP: 0.5 },
    { topK: 50, topP: 0.95 }, { minP: 0.05 }, { temperature: 0.8, topP: 0.9, minP: 0.1 }, { typicalP: 0.9 },
    { topK: 20, typicalP: 0.5 }, { topP: 0.99, minP: 0.02, typicalP: 0.95 },
    { repetitionPenalty: 1.3, presencePenalty: 0.4, frequencyPenalty: 0.3, logitBias: { 3: 2, 7: -5 }, topP: 0.8 },
  ];

  function compare(row: Float32Array, partial: SamplingOptions, state: () => SamplingState): void {
    const opts = options(partial, row.length);
    const actual = samplingDistribution(row, opts, state());
    const expected = referenceDistribution(row, opts, state());
    assertDistribution(actual, Object.fromEntries(expected), 1e-9);
  }

  it('agrees on small random rows for every combination', () => {
    const state = () => historyState([1, 3, 8], [3, 7, 7, 12]);
    for (let seed = 0; seed < 12; seed++) {
      const row = randomRow(64, 900 + seed, 4);
      for (const combo of combos) compare(row, combo, state);
    }
  });

  /** A flat row (many plausible tokens) and a peaked one (a few dominate, like a confident model). */
  function flatAndPeaked(vocabSize: number, seed: number): Float32Array[] {
    const flat = randomRow(vocabSize, seed, 3);
    const peaked = randomRow(vocabSize, seed + 1, 8);
    for (let i = 1; i <= 5; i++) peaked[(i * 997) % vocabSize] = 14 - i / 10;
    return [flat, peaked];
  }

  it('agrees on mid-sized rows (exercises the top-k heap, the top-p floor and the partitioned selection)', () => {
    const state = () => historyState([4095, 464], [262, 262, 11]);
    const tied = randomRow(4099, 33, 4).map(Math.round); // nine distinct values: ties everywhere
    for (const row of [...flatAndPeaked(4099, 31), tied]) {
      for (const combo of [...combos, { topP: 0.999 }, { topP: 0.3, temperature: 3 }, { typicalP: 0.2 }]) compare(row, combo, state);
    }
  });

  it('agrees on GPT-2-sized rows (V = 50257)', () => {
    const state = () => historyState([50256, 464], [262, 262, 11]);
    const [flat, peaked] = flatAndPeaked(50257, 41);
    compare(flat, { topP: 0.9, temperature: 0.8 }, state);
    compare(peaked, { topK: 50, topP: 0.95, repetitionPenalty: 1.2 }, state);
  });
});
