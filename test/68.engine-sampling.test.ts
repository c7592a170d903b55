// Where the engine samples: in the native step (output 'sample', the default when the addon has it)
// or on the JavaScript thread (setStepSampler('typescript'), the reference). The same seeds give the
// same tokens and text both ways, for concurrent requests with every kind of option; the rows really
// were sampled where the switch says; and a model whose logits are all NaN fails each request with
// the sampler's own ERR_GPTNEO_INTERNAL on both paths, leaving the engine serving. With the sampling
// prefilter forced on (the GPU's path: rows sampled from backend-selected candidates) the tokens stay
// the same.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { loadModel, type GenerationResult, type GptNeoModel } from '../lib/index.js';
import { setStepSampler, type SamplingOptions, type StepSampler } from '../lib/sampling/index.js';
import {
  TempDirs, assertRejectsWith, fixtureConfigJson, gptNeoEntries, writeConfigJson, writeRawSafetensors, writeZeroSafetensors,
} from './helpers/checkpoints.js';
import { withEnv } from './helpers/env.js';
import { loadFixtureCase } from './helpers/fixture-data.js';

const REQUESTS: Array<[string, SamplingOptions]> = [
  ['The quick brown fox', { maxNewTokens: 24, temperature: 1.2, topK: 50, topP: 0.95, seed: 42 }],
  ['Once upon a time', { maxNewTokens: 24, temperature: 0.8, topP: 0.9, seed: 1, repetitionPenalty: 1.3,
    presencePenalty: 0.5, frequencyPenalty: 0.7, logitBias: { 11: 5, 13: -3, 262: -100 } }],
  ['In a hole in the ground', { maxNewTokens: 24, temperature: 1, typicalP: 0.9, minP: 0.05, seed: 2 }],
  ['Hello', { maxNewTokens: 24, temperature: 0, repetitionPenalty: 1.5, frequencyPenalty: 1 }],
  ['Hello', { maxNewTokens: 24, temperature: 0 }],
  ['A B C', { maxNewTokens: 24, temperature: 1.5, seed: 3 }],
  ['The quick brown fox', { maxNewTokens: 24, temperature: 0.7, topK: 5, minP: 0.2, presencePenalty: -1, seed: 4 }],
];

async function withSampler<T>(choice: StepSampler, fn: () => Promise<T>): Promise<T> {
  const previous = setStepSampler(choice);
  try {
    return await fn();
  } finally {
    setStepSampler(previous);
  }
}

describe('68 engine sampling: native step vs TypeScript (tiny-neo-gpt2vocab, cpu)', () => {
  let model: GptNeoModel;
  before(async () => {
    const fx = await loadFixtureCase('tiny-neo-gpt2vocab');
    model = await loadModel(fx.dir, { device: 'cpu', threads: 2, maxBatchTokens: 64 });
  });
  afterEach(() => assert.equal(model.stats().kv.usedBlocks, 0, 'a request leaked KV blocks'));
  after(() => model?.dispose());

  const runAll = (): Promise<GenerationResult[]> => Promise.all(REQUESTS.map(([p, o]) => model.generate(p, o)));

  it('the same seeds give the same tokens and text, concurrent requests with every option', async function () {
    this.timeout(60_000);
    const before = model.stats().sampledRows;
    const native = await withSampler('native', runAll);
    const middle = model.stats().sampledRows;
    const typescript = await withSampler('typescript', runAll);
    const after = model.stats().sampledRows;
    native.forEach((n, i) => {
      assert.deepEqual(n.tokenIds, typescript[i]!.tokenIds, `request ${i}: ${JSON.stringify(REQUESTS[i]![1])}`);
      assert.equal(n.text, typescript[i]!.text, `request ${i}`);
      assert.equal(n.tokenIds.length, 24, `request ${i} ended early (${n.finishReason})`);
    });
    // Where the rows were sampled: all natively in the first run, all by TypeScript in the second
    // except those of steps where every row was plain greedy (native argmax either way).
    assert.equal(middle.typescript, before.typescript, 'the native run sampled rows in TypeScript');
    assert.ok(middle.native - before.native >= 7 * 24, 'the native run sampled too few rows natively');
    assert.ok(after.typescript - middle.typescript >= 6 * 24, 'the TypeScript run sampled too few rows in TypeScript');
  });

  // The sampling prefilter (csrc/model/device_sampling.h; on by default on GPU backends only), forced on here: the
  // CPU backend runs the same path: greedy and top-k rows sampled from the candidates the backend
  // selects, the others from whole rows read back. The tokens must not change.
  it('with the sampling prefilter forced on, the native step still gives the TypeScript tokens', async function () {
    this.timeout(60_000);
    const typescript = await withSampler('typescript', runAll);
    const before = await withEnv({ GPTNEO_SAMPLING_PREFILTER: undefined }, async () => model.info().samplingPrefilter!);
    assert.equal(before.enabled, false, 'the prefilter is off by default on the CPU');
    const off = await withEnv({ GPTNEO_SAMPLING_PREFILTER: '0' }, async () => model.info().samplingPrefilter!);
    assert.equal(off.enabled, false, 'GPTNEO_SAMPLING_PREFILTER=0 keeps it off');
    const { during, prefiltered } = await withEnv({ GPTNEO_SAMPLING_PREFILTER: '1' }, async () => ({
      during: model.info().samplingPrefilter!,
      prefiltered: await withSampler('native', runAll),
    }));
    const after = model.info().samplingPrefilter!;
    assert.equal(during.enabled, true, 'GPTNEO_SAMPLING_PREFILTER=1 turns it on');
    prefiltered.forEach((p, i) => {
      assert.deepEqual(p.tokenIds, typescript[i]!.tokenIds, `request ${i}: ${JSON.stringify(REQUESTS[i]![1])}`);
    });
    // Requests 0, 3 and 6 (top-k, greedy with penalties) give candidate rows; 1, 2 and 5 whole rows.
    assert.ok(after.candidateRows - before.candidateRows >= 3 * 24, `candidate rows: ${after.candidateRows - before.candidateRows}`);
    assert.ok(after.fullRows - before.fullRows >= 3 * 24, `whole rows: ${after.fullRows - before.fullRows}`);
  });

  // The device draw (GPTNEO_SAMPLING_DRAW=1 with the prefilter; csrc/cpu/device_draw.h): temperature
  // rows without top-k/top-p/typical-p, and top-p rows without typical-p (the nucleus draw,
  // csrc/cuda/nucleus_draw.h; min-p applied to the nucleus), are drawn where the logits are (here the CPU
  // backend's own emulation of the kernel); top-p rows with typical-p are sampled from their candidates
  // with the backend's sum of their weights (csrc/cpu/nucleus_bound.h). All are certified to give the
  // whole row's token, so the tokens must not change.
  it('with the device draw on, temperature and top-p rows are drawn on the backend, top-p rows with typical-p come from candidates, and the tokens stay the same', async function () {
    this.timeout(60_000);
    const drawRequests: Array<[string, SamplingOptions]> = [
      ['Once upon a time', { maxNewTokens: 24, temperature: 0.9, minP: 0.05, seed: 9, repetitionPenalty: 1.3,
        presencePenalty: 0.5, frequencyPenalty: 0.7, logitBias: { 11: 5, 13: -3, 262: -100 } }],
      ['A B C', { maxNewTokens: 24, temperature: 1.5, seed: 3 }],
      // A flat top-p row with typical-p after the nucleus: its nucleus is far larger than the candidates,
      // so it is sampled whole.
      ['In a hole in the ground', { maxNewTokens: 24, temperature: 1, topP: 0.9, typicalP: 0.99, seed: 5 }],
      // A peaked one (this random model's logits spread little: a low temperature sharpens them), with
      // min-p and typical-p after the nucleus and penalties: sampled from its candidates.
      ['The quick brown fox', { maxNewTokens: 24, temperature: 0.02, topP: 0.9, minP: 0.05, typicalP: 0.95, seed: 11,
        repetitionPenalty: 1.2, frequencyPenalty: 0.3, logitBias: { 198: 1 } }],
      // A flat top-p row without min-p or typical-p (a nucleus of thousands), with penalties: the nucleus draw.
      ['It was a dark and stormy night', { maxNewTokens: 24, temperature: 1, topP: 0.9, seed: 7, repetitionPenalty: 1.1,
        logitBias: { 11: 2 } }],
      // The same with min-p after the nucleus, cutting inside it (at the first step min-p 0.05 keeps 3860
      // of a nucleus of 28709 tokens): the nucleus draw, from the tokens min-p keeps.
      ['Far over the misty mountains', { maxNewTokens: 24, temperature: 1, topP: 0.9, minP: 0.05, seed: 8,
        presencePenalty: 0.4 }],
    ];
    const runDraw = (): Promise<GenerationResult[]> => Promise.all(drawRequests.map(([p, o]) => model.generate(p, o)));
    const typescript = await withSampler('typescript', runDraw);
    const before = model.info().samplingPrefilter!;
    assert.equal(before.draw, false, 'the device draw is off by default');
    const { during, drawn } = await withEnv({ GPTNEO_SAMPLING_PREFILTER: '1', GPTNEO_SAMPLING_DRAW: '1' }, async () => ({
      during: model.info().samplingPrefilter!,
      drawn: await withSampler('native', runDraw),
    }));
    const after = model.info().samplingPrefilter!;
    assert.equal(during.draw, true, 'GPTNEO_SAMPLING_DRAW=1 turns it on');
    drawn.forEach((d, i) => assert.deepEqual(d.tokenIds, typescript[i]!.tokenIds, `request ${i}: ${JSON.stringify(drawRequests[i]![1])}`));
    const rowsOf = (i: number): number => drawn[i]!.tokenIds.length;
    const uncertain = after.uncertainDraws - before.uncertainDraws;
    const nucleus = after.nucleusRows - before.nucleusRows, whole = after.fullRows - before.fullRows;
    const drawnNucleus = after.drawnNucleusRows - before.drawnNucleusRows;
    assert.equal(after.drawnRows - before.drawnRows + uncertain, rowsOf(0) + rowsOf(1) + rowsOf(4) + rowsOf(5),
      'every row of requests 0, 1, 4 and 5 went to the draw');
    const flatRows = rowsOf(4) + rowsOf(5);
    assert.ok(drawnNucleus >= flatRows - 2 && drawnNucleus <= flatRows,
      `the flat top-p requests' rows were drawn from their nucleus on the backend (${drawnNucleus} of ${flatRows})`);
    assert.equal(nucleus + whole, rowsOf(2) + rowsOf(3) + uncertain, 'whole rows: top-p rows the candidates do not decide and uncertain draws only');
    assert.ok(nucleus >= rowsOf(3) - 2, `the peaked top-p request's rows came from candidates (${nucleus} of ${rowsOf(3)})`);
    assert.ok(whole >= rowsOf(2), `the flat top-p request's rows were sampled whole (${whole} whole rows)`);
    assert.equal(after.candidateRows, before.candidateRows, 'no candidate rows here');
    // The flat request's nucleus reached past its candidates every step: their count doubled to the most.
    assert.equal(after.nucleusCandidates, 2048, 'the top-p rows\' candidates grew to 2048');
    // 64 steps where no nucleus reaches past them halve it again (the peaked request alone, same tokens).
    const [prompt, peaked] = drawRequests[3]!;
    const long = { ...peaked, maxNewTokens: 70, ignoreEos: true };
    const typescriptLong = await withSampler('typescript', () => model.generate(prompt, long));
    const nativeLong = await withEnv({ GPTNEO_SAMPLING_PREFILTER: '1', GPTNEO_SAMPLING_DRAW: '1' },
      () => withSampler('native', () => model.generate(prompt, long)));
    assert.deepEqual(nativeLong.tokenIds, typescriptLong.tokenIds, 'the peaked request alone');
    assert.equal(model.info().samplingPrefilter!.nucleusCandidates, 1024, 'halved after 64 steps within the candidates');
  });

  it('a request alone gives the same tokens as in the crowd, with the native sampler', async function () {
    this.timeout(30_000);
    const crowd = await withSampler('native', runAll);
    for (const i of [1, 2]) {
      const alone = await withSampler('native', () => model.generate(REQUESTS[i]![0], REQUESTS[i]![1]));
      assert.deepEqual(alone.tokenIds, crowd[i]!.tokenIds, `request ${i}`);
    }
  });
});

describe('68 engine sampling: a model with no usable logits (every weight NaN)', () => {
  const dirs = new TempDirs();
  let model: GptNeoModel;
  before(async () => {
    const dir = await dirs.make();
    const config = await fixtureConfigJson('tiny-neo-gpt2vocab');
    await writeConfigJson(dir, config);
    const path = join(dir, 'model.safetensors');
    const header = await writeZeroSafetensors(path, gptNeoEntries(config));
    const bytes = Math.max(...Object.values(header).map((e) => (e as { data_offsets?: number[] }).data_offsets?.[1] ?? 0));
    await writeRawSafetensors(path, header, Buffer.alloc(bytes, 0xff));  // 0xffffffff: a NaN float
    model = await loadModel(dir, { device: 'cpu', threads: 2 });
  });
  after(async () => {
    await model?.dispose();
    await dirs.cleanup();
  });

  // 'native+prefilter': the sampling prefilter forced on (a NaN threshold decides nothing, so the
  // greedy and top-k rows fall back to whole rows and fail the same way).
  // 'native+draw': the device draw on as well (it declines NaN rows, which are then sampled whole).
  for (const choice of ['native', 'native+prefilter', 'native+draw', 'typescript'] as const) {
    it(`${choice}: each sampling request fails with ERR_GPTNEO_INTERNAL, the engine keeps serving`, async () => {
      const sampler = choice === 'typescript' ? 'typescript' : 'native';
      const env = {
        GPTNEO_SAMPLING_PREFILTER: choice === 'native+prefilter' || choice === 'native+draw' ? '1' : undefined,
        GPTNEO_SAMPLING_DRAW: choice === 'native+draw' ? '1' : undefined,
      };
      await withEnv(env, () => withSampler(sampler, async () => {
        const requests = [
          model.generate([1, 2, 3], { maxNewTokens: 4, temperature: 1, seed: 1 }),
          model.generate([4, 5], { maxNewTokens: 4, temperature: 0.7, topP: 0.9, seed: 2 }),
          model.generate([6], { maxNewTokens: 4, temperature: 0, repetitionPenalty: 1.2 }),
          model.generate([7], { maxNewTokens: 4, temperature: 0.9, topK: 3, seed: 3 }),
        ];
        // The sampler's error itself, not the engine's catch-all ('The engine failed: …').
        for (const r of requests) await assertRejectsWith(r, 'ERR_GPTNEO_INTERNAL', /^Cannot sample: every logit is NaN or -Infinity\n/);
        const logits = await model.forward([1, 2]);  // the engine still runs steps
        assert.ok(Number.isNaN(logits[0]));
        assert.equal(model.stats().kv.usedBlocks, 0);
      }));
    });
  }
});
