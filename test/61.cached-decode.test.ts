// Cached decoding through the native paged KV cache: feeding a sequence one token per step (and
// in uneven chunks) gives the logits transformers gives with past_key_values (decode_logits), and
// a greedy run-ahead (several decode steps in one native call) gives transformers' greedy tokens.
import { strict as assert } from 'node:assert';
import { nativeConfig } from '../lib/model/load.js';
import { loadNative } from '../lib/native/binding.js';
import type { NativeModel } from '../lib/native/types.js';
import { readConfig, readSafetensorsHeader, resolveGptNeoWeights } from '../lib/model/checkpoint.js';
import { join } from 'node:path';
import { packSamplingRows, validateSamplingOptions } from '../lib/sampling/index.js';
import { loadFixtureCase, maxAbsDiff } from './helpers/fixture-data.js';

const BLOCK = 4;

async function openNative(dir: string, kvBlocks: number): Promise<{ native: NativeModel; vocab: number }> {
  const config = await readConfig(dir);
  const table = resolveGptNeoWeights(await readSafetensorsHeader(join(dir, 'model.safetensors')), config);
  const addon = loadNative();
  const native = new addon.NativeModel(nativeConfig(config), { device: 'cpu', threads: 2 });
  await native.load(join(dir, 'model.safetensors'), table.tensors, { weightDtype: 'F32', kvBlocks, blockSize: BLOCK });
  return { native, vocab: config.vocabSize };
}

/** A shuffled block table: positions land in blocks far from position order. */
function shuffledTable(blocks: number, seed: number): Int32Array {
  const ids = Array.from({ length: blocks }, (_, i) => i);
  let s = seed;
  for (let i = ids.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return Int32Array.from(ids);
}

for (const name of ['tiny-neo', 'tiny-neo-gpt2vocab'] as const) {
  describe(`cached decoding vs decode_logits: ${name}`, () => {
    it('one token per step through a shuffled block table', async () => {
      const fx = await loadFixtureCase(name);
      const { native, vocab } = await openNative(fx.dir, 64);
      try {
        for (const seq of fx.json.sequences) {
          const table = shuffledTable(Math.ceil(seq.length / BLOCK), seq.index + 7);
          const ref = await fx.tensor(`decode_logits_${seq.index}`) as Float32Array;
          const wanted = new Map(seq.logit_positions.map((p, i) => [p, i]));
          for (let pos = 0; pos < seq.length; pos++) {
            const out = await native.step({
              tokenIds: Int32Array.of(seq.input_ids[pos]!), positions: Int32Array.of(pos), seqStarts: Int32Array.of(0, 1),
              blockTables: table, maxBlocks: table.length, outputRows: Int32Array.of(0), output: 'logits',
            }) as Float32Array;
            const p = wanted.get(pos);
            if (p === undefined) continue;
            const diff = maxAbsDiff(out, ref.subarray(p * vocab, (p + 1) * vocab));
            assert.ok(diff <= 1e-4, `sequence ${seq.index} position ${pos}: ${diff}`);
          }
        }
      } finally {
        native.dispose();
      }
    });

    it('uneven prefill chunks and two sequences packed in one step', async () => {
      const fx = await loadFixtureCase(name);
      const { native, vocab } = await openNative(fx.dir, 64);
      try {
        const [a, b] = [fx.json.sequences[0]!, fx.json.sequences[1]!];
        const ta = Int32Array.from({ length: Math.ceil(a.length / BLOCK) }, (_, i) => 2 * i);
        const tb = Int32Array.from({ length: Math.ceil(b.length / BLOCK) }, (_, i) => 2 * i + 1);
        const maxBlocks = Math.max(ta.length, tb.length);
        const tables = new Int32Array(2 * maxBlocks);
        tables.set(ta, 0);
        tables.set(tb, maxBlocks);
        const refA = await fx.tensor(`logits_${a.index}`) as Float32Array;
        const refB = await fx.tensor(`logits_${b.index}`) as Float32Array;
        // Chunks of a: [0,5) [5,6) [6,L); b: [0,3) [3,L)  — run as 3 steps with both sequences when possible.
        const cuts = [[5, 3], [6, b.length], [a.length, b.length]];
        let doneA = 0, doneB = 0;
        for (const [ea, eb] of cuts) {
          const na = ea! - doneA, nb = eb! - doneB;
          const ids: number[] = [], pos: number[] = [];
          for (let i = doneA; i < ea!; i++) { ids.push(a.input_ids[i]!); pos.push(i); }
          for (let i = doneB; i < eb!; i++) { ids.push(b.input_ids[i]!); pos.push(i); }
          const seqs = nb > 0 ? Int32Array.of(0, na, na + nb) : Int32Array.of(0, na);
          const rows = nb > 0 ? Int32Array.of(na - 1, na + nb - 1) : Int32Array.of(na - 1);
          const out = await native.step({ tokenIds: Int32Array.from(ids), positions: Int32Array.from(pos), seqStarts: seqs,
            blockTables: nb > 0 ? tables : tables.subarray(0, maxBlocks), maxBlocks, outputRows: rows, output: 'logits' }) as Float32Array;
          const checkRow = (ref: Float32Array, positions: number[], lastPos: number, row: number, what: string) => {
            const p = positions.indexOf(lastPos);
            if (p < 0) return;
            const diff = maxAbsDiff(out.subarray(row * vocab, (row + 1) * vocab), ref.subarray(p * vocab, (p + 1) * vocab));
            assert.ok(diff <= 1e-4, `${what} at ${lastPos}: ${diff}`);
          };
          checkRow(refA, a.logit_positions, ea! - 1, 0, 'a');
          if (nb > 0) checkRow(refB, b.logit_positions, eb! - 1, 1, 'b');
          doneA = ea!;
          doneB = eb!;
        }
      } finally {
        native.dispose();
      }
    });

    it("a run-ahead step (steps > 1) returns the fixture's greedy continuation in one call", async () => {
      const fx = await loadFixtureCase(name);
      const { native, vocab } = await openNative(fx.dir, 64);
      try {
        for (const seq of fx.json.sequences) {
          const L = seq.input_ids.length;
          const n = seq.greedy_new_ids.length;
          const table = shuffledTable(Math.ceil((L + n) / BLOCK), seq.index + 11);
          const common = { seqStarts: Int32Array.of(0, 1), blockTables: table, maxBlocks: table.length, outputRows: Int32Array.of(0) };
          const first = await native.step({ ...common, seqStarts: Int32Array.of(0, L), outputRows: Int32Array.of(L - 1),
            tokenIds: Int32Array.from(seq.input_ids), positions: Int32Array.from({ length: L }, (_, i) => i), output: 'argmax' }) as Int32Array;
          assert.equal(first[0], seq.greedy_new_ids[0]);
          // The first new token at position L, then n - 1 steps each fed by the one before.
          const ahead = await native.step({ ...common, tokenIds: Int32Array.of(first[0]!), positions: Int32Array.of(L),
            output: 'argmax', steps: n - 1 }) as Int32Array;
          assert.deepEqual(Array.from(ahead), seq.greedy_new_ids.slice(1), `sequence ${seq.index}`);
        }
        // The same through the in-step sampler at temperature 0 with a repetition penalty of 1 (the
        // argmax): one uniform per step; u of the wrong length is refused.
        const seq = fx.json.sequences[0]!;
        const L = seq.input_ids.length;
        const n = seq.greedy_new_ids.length;
        const table = Int32Array.from({ length: Math.ceil((L + n) / BLOCK) }, (_, i) => i);
        await native.step({ tokenIds: Int32Array.from(seq.input_ids), positions: Int32Array.from({ length: L }, (_, i) => i),
          seqStarts: Int32Array.of(0, L), blockTables: table, maxBlocks: table.length, outputRows: Int32Array.of(L - 1),
          output: 'argmax' });
        const options = validateSamplingOptions({ temperature: 0 }, { vocabSize: vocab });
        const row = { options, u: 0, seenIds: new Int32Array(0), countIds: new Int32Array(0), counts: new Int32Array(0),
          biasIds: new Int32Array(0), biasValues: new Float64Array(0) };
        const sampling = packSamplingRows([row]);
        const sampledStep = { tokenIds: Int32Array.of(seq.greedy_new_ids[0]!), positions: Int32Array.of(L),
          seqStarts: Int32Array.of(0, 1), blockTables: table, maxBlocks: table.length, outputRows: Int32Array.of(0),
          output: 'sample' as const, steps: n - 1 };
        const sampled = await native.step({ ...sampledStep, sampling: { ...sampling, u: new Float64Array(n - 1) } }) as Int32Array;
        assert.deepEqual(Array.from(sampled), seq.greedy_new_ids.slice(1));
        assert.throws(() => native.step({ ...sampledStep, sampling }),
          { code: 'ERR_GPTNEO_INVALID_ARGUMENT', message: /one entry per output row and step in u/ });
        // Refused: not argmax, tables too short for the last position, a bad count.
        const bad = { tokenIds: Int32Array.of(1), positions: Int32Array.of(0), seqStarts: Int32Array.of(0, 1),
          blockTables: Int32Array.of(0), maxBlocks: 1, outputRows: Int32Array.of(0) };
        await assert.rejects(native.step({ ...bad, output: 'logits', steps: 2 }),
          { code: 'ERR_GPTNEO_INVALID_ARGUMENT', message: /needs output 'argmax'/ });
        await assert.rejects(native.step({ ...bad, output: 'argmax', steps: BLOCK + 1 }),
          { code: 'ERR_GPTNEO_INVALID_ARGUMENT', message: /block table is too short/ });
        for (const steps of [0, 257]) {
          assert.throws(() => native.step({ ...bad, output: 'argmax', steps }),
            { code: 'ERR_GPTNEO_INVALID_ARGUMENT', message: /steps must be in \[1, 256\]/ });
        }
        assert.throws(() => native.step({ ...bad, output: 'argmax', steps: 2.5 }), { code: 'ERR_GPTNEO_INVALID_ARGUMENT' });
        assert.equal(native.info().runAheadSteps, 256);
      } finally {
        native.dispose();
      }
    });
  });
}
