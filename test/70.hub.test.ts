/**
 * Hub client: downloads into the Hugging Face cache layout, reuse of the cache, offline mode.
 * Runs against the fake Hub on 127.0.0.1 (test/helpers/fake-hub.ts); no real network.
 */
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadModel, hubCacheDir, resolveModelSource, type HubOptions, type HubProgress } from '../lib/hub/index.js';
import { isGptNeoError } from '../lib/errors.js';
import { FakeHub, gitBlobSha1, sha256Hex, tinyModelRepo, type FakeRepo } from './helpers/fake-hub.js';

const REPO = 'EleutherAI/gpt-neo-tiny';
const PRESENT = ['config.json', 'merges.txt', 'model.safetensors', 'tokenizer.json', 'vocab.json'];
const ABSENT = ['special_tokens_map.json', 'tokenizer_config.json'];

/** The blob name the Hub's etags give a file. */
const blobName = (repo: FakeRepo, file: string): string =>
  repo.files[file].lfs ? sha256Hex(repo.files[file].content) : gitBlobSha1(repo.files[file].content);

async function closedPortUrl(): Promise<string> {
  const probe = await FakeHub.start({ repos: {} });
  const url = probe.url;
  await probe.close();
  return url;
}

describe('70 hub: download and cache', function () {
  let hub: FakeHub;
  let repo: FakeRepo;
  let cacheDir: string;
  let opts: HubOptions;

  beforeEach(async function () {
    repo = tinyModelRepo();
    hub = await FakeHub.start({ repos: { [REPO]: repo } });
    cacheDir = await mkdtemp(join(tmpdir(), 'gptneo-hub-'));
    opts = { cacheDir, endpoint: hub.url, env: { HF_HOME: cacheDir } }; // HF_HOME: no saved token is read
  });

  afterEach(async function () {
    await hub.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('populates the Hugging Face cache layout exactly (blobs, relative snapshot links, refs/main, .no_exist)', async function () {
    const dir = await resolveModelSource(REPO, opts);
    const root = join(cacheDir, 'models--EleutherAI--gpt-neo-tiny');
    assert.equal(dir, join(root, 'snapshots', repo.commit));
    assert.deepEqual((await readdir(root)).sort(), ['.no_exist', 'blobs', 'refs', 'snapshots']);
    assert.equal(await readFile(join(root, 'refs', 'main'), 'utf8'), repo.commit);
    assert.deepEqual(await readdir(join(root, 'snapshots')), [repo.commit]);
    assert.deepEqual((await readdir(join(root, 'blobs'))).sort(), PRESENT.map((f) => blobName(repo, f)).sort());
    assert.deepEqual((await readdir(dir)).sort(), PRESENT);
    for (const file of PRESENT) {
      const link = join(dir, file);
      assert.ok((await lstat(link)).isSymbolicLink(), `${file} is a symlink`);
      assert.equal(await readlink(link), `../../blobs/${blobName(repo, file)}`);
      assert.deepEqual(await readFile(link), repo.files[file].content, `${file} content`);
    }
    assert.deepEqual((await readdir(join(root, '.no_exist', repo.commit))).sort(), ABSENT);
    assert.ok(hub.requests.every((r) => r.headers.authorization === undefined), 'no Authorization without a token');
    assert.ok(hub.requestsTo('/cdn-lfs/').length >= 1, 'the LFS file went through the redirect');
    const heads = hub.requests.filter((r) => r.method === 'HEAD');
    assert.equal(heads.length, PRESENT.length, 'one HEAD per file; absent files were known from the listing');
    assert.ok(heads.every((r) => r.headers['accept-encoding'] === 'identity' && r.path.includes(`/resolve/${repo.commit}/`)),
      'metadata of the uncompressed file, at the listed commit');
  });

  it('serves a second call from the cache without any request', async function () {
    const first = await resolveModelSource(REPO, opts);
    const count = hub.requests.length;
    assert.equal(await resolveModelSource(REPO, opts), first);
    assert.equal(hub.requests.length, count);
  });

  it('downloadModel checks the revision online but fetches no file that is cached', async function () {
    const first = await resolveModelSource(REPO, opts);
    hub.requests.length = 0;
    assert.equal(await downloadModel(REPO, opts), first);
    assert.deepEqual(hub.requests.map((r) => r.path), [`/api/models/${REPO}/revision/main`]);
  });

  it('downloadModel follows a new commit of main and reuses unchanged blobs', async function () {
    await downloadModel(REPO, opts);
    const oldCommit = repo.commit;
    repo.commit = 'c'.repeat(40);
    hub.requests.length = 0;
    const events: HubProgress[] = [];
    const dir = await downloadModel(REPO, { ...opts, onProgress: (p) => events.push(p) });
    assert.equal(dir, join(cacheDir, 'models--EleutherAI--gpt-neo-tiny', 'snapshots', repo.commit));
    assert.deepEqual(events.map((e) => [e.file, e.done, e.loaded === repo.files[e.file].content.length]).sort(),
      PRESENT.map((f) => [f, true, true]), 'one done event per file, even when its blob was cached');
    assert.equal(await readFile(join(cacheDir, 'models--EleutherAI--gpt-neo-tiny', 'refs', 'main'), 'utf8'), repo.commit);
    assert.equal(hub.requests.filter((r) => r.method === 'GET' && !r.path.startsWith('/api/')).length, 0,
      'blobs with unchanged etags are not downloaded again');
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), repo.files['model.safetensors'].content);
    assert.ok((await readdir(join(cacheDir, 'models--EleutherAI--gpt-neo-tiny', 'snapshots'))).includes(oldCommit));
  });

  it('offline mode resolves from the cache with no request (option and HF_HUB_OFFLINE=1)', async function () {
    const dir = await resolveModelSource(REPO, opts);
    hub.requests.length = 0;
    assert.equal(await resolveModelSource(REPO, { ...opts, offline: true }), dir);
    assert.equal(await downloadModel(REPO, { ...opts, env: { ...opts.env, HF_HUB_OFFLINE: '1' } }), dir);
    assert.equal(await resolveModelSource(REPO, { ...opts, offline: true, revision: repo.commit }), dir);
    assert.equal(hub.requests.length, 0);
  });

  it('offline mode without a cached copy fails with ERR_GPTNEO_HUB_OFFLINE naming the repo and cache', async function () {
    await assert.rejects(resolveModelSource(REPO, { ...opts, env: { ...opts.env, HF_HUB_OFFLINE: 'true' } }), (e: unknown) => {
      assert.ok(isGptNeoError(e, 'ERR_GPTNEO_HUB_OFFLINE'), String(e));
      assert.match(e.message, /EleutherAI\/gpt-neo-tiny/);
      assert.ok(e.message.includes(cacheDir), e.message);
      return true;
    });
    assert.equal(hub.requests.length, 0);
  });

  it('offline mode uses a snapshot made elsewhere that lacks the optional tokenizer files', async function () {
    // As Python's hf_hub_download of two files would leave it: no .no_exist markers.
    const root = join(cacheDir, 'models--EleutherAI--gpt-neo-tiny');
    const snap = join(root, 'snapshots', repo.commit);
    await mkdir(snap, { recursive: true });
    await mkdir(join(root, 'refs'));
    await writeFile(join(root, 'refs', 'main'), repo.commit);
    await writeFile(join(snap, 'config.json'), repo.files['config.json'].content);
    await writeFile(join(snap, 'model.safetensors'), repo.files['model.safetensors'].content);
    assert.equal(await resolveModelSource(REPO, { ...opts, offline: true }), snap);
    assert.equal(hub.requests.length, 0);
    // Online, the same incomplete snapshot is completed rather than trusted.
    assert.equal(await resolveModelSource(REPO, opts), snap);
    assert.deepEqual((await readdir(snap)).sort(), PRESENT);
  });

  it('falls back to a cached snapshot when the Hub is unreachable', async function () {
    const dir = await downloadModel(REPO, opts);
    const endpoint = await closedPortUrl();
    assert.equal(await downloadModel(REPO, { ...opts, endpoint }), dir);
  });

  it('probes files with HEAD when the API route is missing (mirror) and builds the same layout', async function () {
    await hub.close();
    hub = await FakeHub.start({ repos: { [REPO]: repo }, noApi: true });
    const dir = await resolveModelSource(REPO, { ...opts, endpoint: hub.url });
    assert.equal(dir, join(cacheDir, 'models--EleutherAI--gpt-neo-tiny', 'snapshots', repo.commit));
    assert.deepEqual((await readdir(dir)).sort(), PRESENT);
    for (const file of PRESENT) assert.deepEqual(await readFile(join(dir, file)), repo.files[file].content);
    const count = hub.requests.length;
    await resolveModelSource(REPO, { ...opts, endpoint: hub.url });
    assert.equal(hub.requests.length, count, 'absent files were recorded, so the cache is complete');
  });

  it('follows a relative redirect of a renamed repo', async function () {
    await hub.close();
    hub = await FakeHub.start({ repos: { [REPO]: repo }, renamed: { 'old-owner/gpt-neo-tiny': REPO }, noApi: true });
    const dir = await resolveModelSource('old-owner/gpt-neo-tiny', { ...opts, endpoint: hub.url });
    assert.equal(dir, join(cacheDir, 'models--old-owner--gpt-neo-tiny', 'snapshots', repo.commit));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), repo.files['model.safetensors'].content);
  });

  it('returns an existing local directory unchanged without touching the network', async function () {
    assert.equal(await resolveModelSource(cacheDir, opts), cacheDir);
    assert.equal(hub.requests.length, 0);
  });
});

describe('70 hub: cache directory and token from the environment', function () {
  it('hubCacheDir: option, then HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME/huggingface/hub', function () {
    assert.equal(hubCacheDir({ cacheDir: '/c', env: { HF_HUB_CACHE: '/h' } }), '/c');
    assert.equal(hubCacheDir({ env: { HF_HUB_CACHE: '/h', HF_HOME: '/home' } }), '/h');
    assert.equal(hubCacheDir({ env: { HF_HOME: '/home' } }), '/home/hub');
    assert.equal(hubCacheDir({ env: { XDG_CACHE_HOME: '/xdg' } }), '/xdg/huggingface/hub');
  });

  it('uses HF_HOME as the default cache and reads the token `huggingface-cli login` saved there', async function () {
    const home = await mkdtemp(join(tmpdir(), 'gptneo-hfhome-'));
    const repo = tinyModelRepo({}, { private: true });
    const hub = await FakeHub.start({ repos: { [REPO]: repo }, token: 'saved-token' });
    try {
      await writeFile(join(home, 'token'), 'saved-token\n');
      const dir = await resolveModelSource(REPO, { endpoint: hub.url, env: { HF_HOME: home } });
      assert.equal(dir, join(home, 'hub', 'models--EleutherAI--gpt-neo-tiny', 'snapshots', repo.commit));
      assert.ok(hub.requests.every((r) => r.headers.authorization === 'Bearer saved-token'));
    } finally {
      await hub.close();
      await rm(home, { recursive: true, force: true });
    }
  });
});
