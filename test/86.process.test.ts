// Process-level behaviour: a model in a worker_threads Worker, two models in one process, a
// process that exits with models still loaded (it must exit cleanly, not hang or crash) or ends on
// its own once idle, and steps that do not queue behind libuv's thread pool.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadModel } from '../lib/index.js';
import { fixture, repoRoot } from './helpers/paths.js';

const indexJs = join(repoRoot, 'dist', 'lib', 'index.js');

describe('86 process: workers, several models, exit', () => {
  it('loads and runs a model inside a worker thread (and the main thread at the same time)', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.index).then(async ({ loadModel }) => {
        const model = await loadModel(workerData.dir, { device: 'cpu', threads: 1 });
        const out = await model.generate([1, 2, 3], { maxNewTokens: 8, temperature: 0 });
        await model.dispose();
        parentPort.postMessage(out.tokenIds);
      }).catch((e) => parentPort.postMessage({ error: String(e) }));`;
    const worker = new Worker(code, { eval: true, workerData: { index: indexJs, dir: fixture('tiny-neo') } });
    const fromWorker = new Promise<unknown>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    await using model = await loadModel(fixture('tiny-neo'), { device: 'cpu', threads: 1 });
    const here = await model.generate([1, 2, 3], { maxNewTokens: 8, temperature: 0 });
    assert.deepEqual(await fromWorker, here.tokenIds);
    await worker.terminate();
  });

  it('a worker terminated with a model loaded does not take the process down', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.index).then(async ({ loadModel }) => {
        globalThis.keep = await loadModel(workerData.dir, { device: 'cpu', threads: 2 });
        parentPort.postMessage('loaded');
      });`;
    const worker = new Worker(code, { eval: true, workerData: { index: indexJs, dir: fixture('tiny-neo') } });
    await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
  });

  it('two models (different checkpoints) in one process run side by side', async () => {
    await using a = await loadModel(fixture('tiny-neo'), { device: 'cpu', threads: 1 });
    await using b = await loadModel(fixture('tiny-neo-gpt2vocab'), { device: 'cpu', threads: 1 });
    const [x, y] = await Promise.all([
      a.generate([5, 6, 7], { maxNewTokens: 6, temperature: 0 }),
      b.generate('Hello', { maxNewTokens: 6, temperature: 0 }),
    ]);
    assert.equal(x.tokenIds.length, 6);
    assert.equal(y.tokenIds.length, 6);
  });

  it('a process that exits with models loaded (and a generation running) exits cleanly', () => {
    const script = `
      const { loadModel } = await import(${JSON.stringify(indexJs)});
      const m1 = await loadModel(${JSON.stringify(fixture('tiny-neo'))}, { device: 'cpu', threads: 2 });
      const m2 = await loadModel(${JSON.stringify(fixture('tiny-neo'))}, { device: 'cpu', threads: 2 });
      m1.generate([1, 2], { maxNewTokens: 100, temperature: 0 });
      console.log('loaded');
      setTimeout(() => process.exit(0), 20);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.match(out, /loaded/);
  });

  it('an idle model does not keep the process alive: it ends when its work is done', () => {
    const script = `
      const { loadModel } = await import(${JSON.stringify(indexJs)});
      const m = await loadModel(${JSON.stringify(fixture('tiny-neo'))}, { device: 'cpu', threads: 1 });
      const out = await m.generate([1, 2], { maxNewTokens: 4, temperature: 0 });
      console.log('generated', out.tokenIds.length);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.match(out, /generated 4/);
  });

  it("steps run on the model's own thread, not in libuv's pool: a busy pool does not hold them up", () => {
    // One libuv pool thread, kept busy by a long pbkdf2; a generation started after it must still
    // finish first (in the pool it would wait for the pbkdf2).
    const script = `
      const { pbkdf2 } = await import('node:crypto');
      const { loadModel } = await import(${JSON.stringify(indexJs)});
      const m = await loadModel(${JSON.stringify(fixture('tiny-neo'))}, { device: 'cpu', threads: 1 });
      const order = [];
      const busy = new Promise((resolve) => pbkdf2('secret', 'salt', 1_000_000, 64, 'sha512', () => { order.push('pbkdf2'); resolve(); }));
      await m.generate([1, 2], { maxNewTokens: 8, temperature: 0 }).then(() => order.push('generate'));
      await busy;
      await m.dispose();
      console.log(order.join(','));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
    assert.equal(out.trim(), 'generate,pbkdf2');
  });
});
