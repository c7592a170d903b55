/** Hub client downloads: resume with Range after a broken connection, integrity checks, progress events. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModelSource, type HubOptions, type HubProgress } from '../lib/hub/index.js';
import { isGptNeoError } from '../lib/errors.js';
import { FAKE_WEIGHTS_SIZE, FakeHub, sha256Hex, tinyModelRepo, type FakeRepo } from './helpers/fake-hub.js';

const REPO = 'EleutherAI/gpt-neo-tiny';
const WEIGHTS = 'model.safetensors';

describe('70 hub: resume, integrity and progress', function () {
  let hub: FakeHub;
  let repo: FakeRepo;
  let cacheDir: string;
  let opts: HubOptions;
  let blobsDir: string;
  let weightsSha: string;

  const weightGets = (): { range: string | undefined }[] =>
    hub.requestsTo('/cdn-lfs/').filter((r) => r.method === 'GET').map((r) => ({ range: r.headers.range as string | undefined }));

  beforeEach(async function () {
    repo = tinyModelRepo();
    weightsSha = sha256Hex(repo.files[WEIGHTS].content);
    hub = await FakeHub.start({ repos: { [REPO]: repo } });
    cacheDir = await mkdtemp(join(tmpdir(), 'gptneo-hub-'));
    blobsDir = join(cacheDir, 'models--EleutherAI--gpt-neo-tiny', 'blobs');
    opts = { cacheDir, endpoint: hub.url, env: { HF_HOME: cacheDir } };
  });

  afterEach(async function () {
    await hub.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('resumes with a Range request after the server closes the connection mid-body', async function () {
    hub.dropAfter.set(WEIGHTS, { bytes: 100_000, times: 1 });
    const dir = await resolveModelSource(REPO, opts);
    const gets = weightGets();
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, undefined);
    const m = /^bytes=(\d+)-$/.exec(gets[1].range ?? '');
    assert.ok(m && Number(m[1]) > 0 && Number(m[1]) <= 100_000, `second request's Range: ${gets[1].range}`);
    assert.deepEqual(await readFile(join(dir, WEIGHTS)), repo.files[WEIGHTS].content);
    assert.ok(!(await readdir(blobsDir)).some((f) => f.endsWith('.incomplete')));
  });

  it('a body that goes silent is cut after timeoutMs and resumed', async function () {
    hub.stallAfter.set(WEIGHTS, { bytes: 60_000, times: 1 });
    const dir = await resolveModelSource(REPO, { ...opts, timeoutMs: 200 });
    const gets = weightGets();
    assert.equal(gets.length, 2);
    assert.match(gets[1].range ?? '', /^bytes=[1-9]\d*-$/);
    assert.deepEqual(await readFile(join(dir, WEIGHTS)), repo.files[WEIGHTS].content);
  });

  it('keeps the partial file when the transfer keeps failing, and a later call resumes it', async function () {
    hub.dropAfter.set(WEIGHTS, { bytes: 20_000, times: 100 });
    await assert.rejects(resolveModelSource(REPO, opts), (e: unknown) => {
      assert.ok(isGptNeoError(e, 'ERR_GPTNEO_HUB'), String(e));
      assert.match(e.message, /interrupted after \d+ of 300000 bytes/);
      assert.match(e.message, /run again/);
      return true;
    });
    const attempts = weightGets().length;
    assert.ok(attempts > 1 && attempts <= 5, `bounded retries (${attempts})`);
    const partial = join(blobsDir, `${weightsSha}.incomplete`);
    const kept = (await stat(partial)).size;
    assert.ok(kept > 0 && kept < FAKE_WEIGHTS_SIZE);
    assert.ok(!(await readdir(join(cacheDir, 'models--EleutherAI--gpt-neo-tiny'))).includes('refs'), 'no ref to a partial snapshot');

    hub.dropAfter.clear();
    hub.requests.length = 0;
    const dir = await resolveModelSource(REPO, opts);
    assert.deepEqual(weightGets().map((g) => g.range), [`bytes=${kept}-`]);
    assert.deepEqual(await readFile(join(dir, WEIGHTS)), repo.files[WEIGHTS].content);
  });

  it('gives up at once when a retry would make no progress (no endless retries)', async function () {
    hub.dropAfter.set(WEIGHTS, { bytes: 0, times: 100 });
    await assert.rejects(resolveModelSource(REPO, opts), (e: unknown) => isGptNeoError(e, 'ERR_GPTNEO_HUB'));
    assert.equal(weightGets().length, 1);
  });

  it('resumes an .incomplete file left by an earlier run, from its exact size', async function () {
    await mkdir(blobsDir, { recursive: true });
    await writeFile(join(blobsDir, `${weightsSha}.incomplete`), repo.files[WEIGHTS].content.subarray(0, 50_000));
    const dir = await resolveModelSource(REPO, opts);
    assert.deepEqual(weightGets().map((g) => g.range), ['bytes=50000-']);
    assert.deepEqual(await readFile(join(dir, WEIGHTS)), repo.files[WEIGHTS].content);
  });

  it('restarts from zero when the server ignores Range and answers 200', async function () {
    await mkdir(blobsDir, { recursive: true });
    await writeFile(join(blobsDir, `${weightsSha}.incomplete`), repo.files[WEIGHTS].content.subarray(0, 50_000));
    hub.ignoreRange = true;
    const events: HubProgress[] = [];
    const dir = await resolveModelSource(REPO, { ...opts, onProgress: (p) => events.push(p) });
    assert.deepEqual(weightGets().map((g) => g.range), ['bytes=50000-']);
    assert.deepEqual(await readFile(join(dir, WEIGHTS)), repo.files[WEIGHTS].content);
    const weightEvents = events.filter((p) => p.file === WEIGHTS);
    assert.deepEqual(weightEvents.at(-1), { file: WEIGHTS, loaded: FAKE_WEIGHTS_SIZE, total: FAKE_WEIGHTS_SIZE, done: true });
  });

  it('a resumed partial with wrong bytes fails the sha256 check', async function () {
    await mkdir(blobsDir, { recursive: true });
    await writeFile(join(blobsDir, `${weightsSha}.incomplete`), Buffer.alloc(50_000, 7));
    await assert.rejects(resolveModelSource(REPO, opts), (e: unknown) => isGptNeoError(e, 'ERR_GPTNEO_INTEGRITY'));
    assert.ok(!(await readdir(blobsDir)).some((f) => f.startsWith(weightsSha)), 'bad blob removed');
  });

  it('wrong bytes from the server are ERR_GPTNEO_INTEGRITY and leave no blob, link or ref behind', async function () {
    hub.corrupt.add(WEIGHTS);
    await assert.rejects(resolveModelSource(REPO, opts), (e: unknown) => {
      assert.ok(isGptNeoError(e, 'ERR_GPTNEO_INTEGRITY'), String(e));
      assert.match(e.message, new RegExp(`model\\.safetensors.*expected ${weightsSha}`));
      return true;
    });
    assert.ok(!(await readdir(blobsDir)).some((f) => f.startsWith(weightsSha)), 'no blob or .incomplete left');
    const root = join(cacheDir, 'models--EleutherAI--gpt-neo-tiny');
    assert.ok(!(await readdir(join(root, 'snapshots', repo.commit))).includes(WEIGHTS));
    assert.ok(!(await readdir(root)).includes('refs'));

    hub.corrupt.clear();
    const dir = await resolveModelSource(REPO, opts);
    assert.deepEqual(await readFile(join(dir, WEIGHTS)), repo.files[WEIGHTS].content);
  });

  it('onProgress: per file, loaded never decreases and the last event is done:true with the full size', async function () {
    hub.dropAfter.set(WEIGHTS, { bytes: 150_000, times: 1 });
    const events: HubProgress[] = [];
    await resolveModelSource(REPO, { ...opts, onProgress: (p) => events.push({ ...p }) });
    const files = [...new Set(events.map((e) => e.file))].sort();
    assert.deepEqual(files, ['config.json', 'merges.txt', 'model.safetensors', 'tokenizer.json', 'vocab.json']);
    for (const file of files) {
      const mine = events.filter((e) => e.file === file);
      const size = repo.files[file].content.length;
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i].loaded >= mine[i - 1].loaded, `${file} monotonic`);
      assert.equal(mine.filter((e) => e.done).length, 1, `${file}: one done event`);
      assert.deepEqual(mine.at(-1), { file, loaded: size, total: size, done: true });
      assert.ok(mine.every((e) => e.total === size && e.loaded <= size));
    }
    assert.ok(events.filter((e) => e.file === WEIGHTS).length >= 2, 'weights report before done');
  });

  it('concurrent loads of one model download each blob once and agree', async function () {
    const dirs = await Promise.all([resolveModelSource(REPO, opts), resolveModelSource(REPO, opts), resolveModelSource(REPO, opts)]);
    assert.equal(new Set(dirs).size, 1);
    assert.equal(weightGets().length, 1);
    assert.deepEqual(await readFile(join(dirs[0], WEIGHTS)), repo.files[WEIGHTS].content);
  });

  it('takes over the lock of a download whose process died', async function () {
    const deadPid = spawnSync(process.execPath, ['--version']).pid;
    const lockDir = join(cacheDir, '.locks', 'models--EleutherAI--gpt-neo-tiny');
    await mkdir(lockDir, { recursive: true });
    await writeFile(join(lockDir, `${weightsSha}.node.lock`), String(deadPid));
    const dir = await resolveModelSource(REPO, opts);
    assert.deepEqual(await readFile(join(dir, WEIGHTS)), repo.files[WEIGHTS].content);
    assert.deepEqual(await readdir(lockDir), [], 'lock released');
  });
});
