// The benchmark's onnxruntime peer on the tiny-neo fixture: it agrees with our fp32 logits before it
// measures, reports a figure for each row it shares with ours, pools embeddings as our embed() does,
// and refuses a checkpoint it cannot export with a typed error.
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../lib/index.js';
import { writeRandomCheckpoint } from '../lib/model/random-checkpoint.js';
import { exportGptNeoOnnx } from '../lib/bench/peers/gpt-neo-onnx.js';
import { meanPoolNormalized, runOnnxRuntimePeer } from '../lib/bench/peers/onnxruntime.js';
import { OrtGptNeo, type OnnxRuntime } from '../lib/bench/peers/ort-gpt-neo.js';
import { rowNames, workload } from '../lib/bench/workload.js';
import { onnxRuntimeOrSkip } from './helpers/onnxruntime.js';
import { maxAbsDiff } from './helpers/fixture-data.js';
import { fixture } from './helpers/paths.js';

describe('bench peer: onnxruntime-node', () => {
  let ort: OnnxRuntime;
  let tmp: string;

  before(async function () {
    ort = await onnxRuntimeOrSkip(this);
    tmp = await mkdtemp(join(tmpdir(), 'gpt-neo-peer-test-'));
  });
  after(async () => { if (tmp) await rm(tmp, { recursive: true, force: true }); });

  it('checks its logits against ours, then measures every row it shares with ours', async () => {
    const lines: string[] = [];
    const outcome = await runOnnxRuntimePeer({ dir: fixture('tiny-neo'), threads: 2, repeats: 1, quick: true, log: (l) => lines.push(l) });
    assert.ok('ok' in outcome, `skipped: ${'skipped' in outcome ? outcome.skipped : ''}`);
    assert.ok(outcome.ok.logitsMaxAbsDiff <= 1e-4, `logits max |diff| ${outcome.ok.logitsMaxAbsDiff}`);
    assert.ok(lines.some((l) => l.includes('max |diff|')), 'the agreement is printed');
    const w = workload(true);
    const expected = [rowNames.prefillForward(w), ...w.streams.map((s) => rowNames.decode(w, s)), rowNames.embeddings(w)];
    assert.deepEqual([...outcome.ok.rows.keys()].sort(), expected.sort());
    for (const [name, m] of outcome.ok.rows) {
      assert.ok(Number.isFinite(m.median) && m.median > 0, `${name}: ${m.median}`);
      assert.equal(m.samples.length, 1);
    }
  });

  it('embeddings from the headless export pool like our embed()', async () => {
    const exported = await exportGptNeoOnnx(fixture('tiny-neo'), join(tmp, 'no-head.onnx'), { logits: false });
    const m = await OrtGptNeo.create(ort, exported.path, exported.config, 2);
    const model = await loadModel(fixture('tiny-neo'), { device: 'cpu', dtype: 'float32', threads: 2 });
    try {
      assert.ok(!m.session.outputNames.includes('logits'));
      const texts = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [500, 3, 77, 12, 0, 9, 9, 9, 41, 8, 200, 511]];
      const out = await m.step(texts, m.emptyCache(2), { logits: false, hidden: true });
      const peer = meanPoolNormalized(out.lastHidden, 2, 12, exported.config.hiddenSize);
      const ours = await model.embed(texts);
      for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(peer[i]!, ours[i]!) <= 1e-5, `text ${i}`);
    } finally {
      await m.release();
      await model.dispose();
    }
  });

  it('a checkpoint that is not float32 gets ERR_GPTNEO_UNSUPPORTED, not a wrong export', async () => {
    const dir = join(tmp, 'bf16');
    await writeRandomCheckpoint(dir, { preset: 'tiny', seed: 5, dtype: 'bfloat16' });
    await assert.rejects(exportGptNeoOnnx(dir, join(tmp, 'bf16.onnx')), { code: 'ERR_GPTNEO_UNSUPPORTED' });
  });
});
