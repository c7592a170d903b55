/**
 * Hub client failures: bad repo ids and revisions, 404, 401 with and without a token, weights in an
 * unsupported form, an unreachable or silent Hub, cancellation.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadModel, resolveModelSource, validateRevision, type HubOptions } from '../lib/hub/index.js';
import { isGptNeoError, type GptNeoErrorCode } from '../lib/errors.js';
import { FakeHub, tinyModelRepo, type FakeRepo } from './helpers/fake-hub.js';

const REPO = 'EleutherAI/gpt-neo-tiny';

/** Asserts that `promise` rejects with a GptNeoError of `code` whose message matches `pattern`. */
async function rejectsWith(promise: Promise<unknown>, code: GptNeoErrorCode, pattern?: RegExp): Promise<Error> {
  let caught: unknown;
  await assert.rejects(promise, (e: unknown) => {
    caught = e;
    assert.ok(isGptNeoError(e, code), `expected ${code}, got ${String((e as { code?: unknown })?.code)}: ${String(e)}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
  return caught as Error;
}

describe('70 hub: errors', function () {
  let hub: FakeHub;
  let repo: FakeRepo;
  let cacheDir: string;
  let opts: HubOptions;

  beforeEach(async function () {
    repo = tinyModelRepo({}, { private: true });
    hub = await FakeHub.start({
      repos: {
        [REPO]: tinyModelRepo(),
        'someone/private-model': repo,
        'someone/pytorch-only': tinyModelRepo({ 'model.safetensors': null, 'pytorch_model.bin': { content: Buffer.alloc(64), lfs: true } }),
        'someone/sharded': tinyModelRepo({
          'model.safetensors': null,
          'model.safetensors.index.json': { content: Buffer.from('{"weight_map":{}}') },
          'model-00001-of-00002.safetensors': { content: Buffer.alloc(64), lfs: true },
        }),
        'someone/no-config': tinyModelRepo({ 'config.json': null }),
        'someone/gated-model': tinyModelRepo({}, { gated: true }),
      },
      token: 'hf_secret',
    });
    cacheDir = await mkdtemp(join(tmpdir(), 'gptneo-hub-'));
    opts = { cacheDir, endpoint: hub.url, env: { HF_HOME: cacheDir } }; // HF_HOME: no saved token is read
  });

  afterEach(async function () {
    await hub.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('rejects repo ids that could escape the cache or are malformed, before any request', async function () {
    const bad = ['../x', 'a/../../b', '/etc/passwd', 'a/b/c', '', '..', 'a/..', './a', 'a\\b', '-a/b', 'a/b-', 'a/.b',
      'a--b/c', 'a/b..c', 'a/b.git', 'a b/c', 'a/b?c', 'a/b%2f', 'é/b', 'a//b', 'x'.repeat(97)];
    for (const id of bad) {
      await rejectsWith(downloadModel(id, opts), 'ERR_GPTNEO_INVALID_ARGUMENT', /repo id/);
    }
    await rejectsWith(downloadModel(42 as unknown as string, opts), 'ERR_GPTNEO_INVALID_ARGUMENT', /Expected string for repoId/);
    assert.equal(hub.requests.length, 0);
    assert.deepEqual(await readdir(cacheDir), []);
  });

  it('resolveModelSource: a path that does not exist is ERR_GPTNEO_FILE_NOT_FOUND, never a Hub id', async function () {
    for (const source of ['../x', 'a/../../b', 'a/b/c', './model', '/nonexistent/gpt-neo', '~/nonexistent-gpt-neo-model']) {
      await rejectsWith(resolveModelSource(source, opts), 'ERR_GPTNEO_FILE_NOT_FOUND', /does not exist/);
    }
    await rejectsWith(resolveModelSource('', opts), 'ERR_GPTNEO_INVALID_ARGUMENT');
    await rejectsWith(resolveModelSource('owner/-bad', opts), 'ERR_GPTNEO_INVALID_ARGUMENT', /repo id/);
    const file = join(cacheDir, 'passwd');
    await writeFile(file, 'x');
    await rejectsWith(resolveModelSource(file, opts), 'ERR_GPTNEO_INVALID_ARGUMENT', /which is a file/);
    assert.equal(hub.requests.length, 0);
  });

  it('validates revisions and options', async function () {
    for (const rev of ['../main', 'a/../b', 'main/', '/main', 'a//b', 'a b', 'x.lock', '.hidden', '', 'a\\b']) {
      await rejectsWith(resolveModelSource(REPO, { ...opts, revision: rev }), 'ERR_GPTNEO_INVALID_ARGUMENT', /revision/);
    }
    assert.equal(validateRevision('refs/pr/1'), 'refs/pr/1');
    assert.equal(validateRevision('v1.0'), 'v1.0');
    await rejectsWith(resolveModelSource(REPO, { ...opts, offline: 'yes' as unknown as boolean }), 'ERR_GPTNEO_INVALID_ARGUMENT', /offline/);
    await rejectsWith(resolveModelSource(REPO, { ...opts, endpoint: 'ftp://example.com' }), 'ERR_GPTNEO_INVALID_ARGUMENT', /endpoint/);
    for (const timeoutMs of [0, Infinity, NaN]) {
      await rejectsWith(resolveModelSource(REPO, { ...opts, timeoutMs }), 'ERR_GPTNEO_INVALID_ARGUMENT', /timeoutMs/);
    }
    assert.equal(hub.requests.length, 0);
  });

  it('encodes a revision with slashes as one URL segment', async function () {
    await rejectsWith(resolveModelSource(REPO, { ...opts, revision: 'refs/pr/1' }), 'ERR_GPTNEO_HUB_NOT_FOUND', /refs\/pr\/1/);
    assert.deepEqual(hub.requests.map((r) => r.path), [`/api/models/${REPO}/revision/refs%2Fpr%2F1`]);
  });

  it('404 for an unknown repo is ERR_GPTNEO_HUB_NOT_FOUND naming it; nothing is cached', async function () {
    await rejectsWith(resolveModelSource('nobody/nothing', opts), 'ERR_GPTNEO_HUB_NOT_FOUND', /nobody\/nothing/);
    assert.deepEqual(await readdir(cacheDir), []);
  });

  it('a single name that is neither a local directory nor a Hub repo says both were tried', async function () {
    const e = await rejectsWith(resolveModelSource('my-model', opts), 'ERR_GPTNEO_HUB_NOT_FOUND', /my-model/);
    assert.match(e.message, /no local directory "my-model"/);
  });

  it('404 for an unknown revision is ERR_GPTNEO_HUB_NOT_FOUND naming it', async function () {
    await rejectsWith(resolveModelSource(REPO, { ...opts, revision: 'v9' }), 'ERR_GPTNEO_HUB_NOT_FOUND', /Revision v9/);
  });

  it('401 without a token is ERR_GPTNEO_HUB_UNAUTHORIZED with a hint about HF_TOKEN and the license', async function () {
    const e = await rejectsWith(resolveModelSource('someone/private-model', opts), 'ERR_GPTNEO_HUB_UNAUTHORIZED', /no token was sent/);
    assert.match(e.message, /HF_TOKEN/);
    assert.match(e.message, /license/);
    assert.ok(hub.requests.every((r) => r.headers.authorization === undefined));
  });

  it('401 with a wrong token says a token was sent', async function () {
    await rejectsWith(resolveModelSource('someone/private-model', { ...opts, token: 'hf_wrong' }),
      'ERR_GPTNEO_HUB_UNAUTHORIZED', /a token was sent/);
    assert.equal(hub.requests[0].headers.authorization, 'Bearer hf_wrong');
  });

  it('sends Authorization: Bearer <token> from the option, HF_TOKEN or HUGGING_FACE_HUB_TOKEN', async function () {
    const variants: HubOptions[] = [
      { ...opts, token: 'hf_secret', env: { ...opts.env, HF_TOKEN: 'ignored-when-option-given' } },
      { ...opts, env: { ...opts.env, HF_TOKEN: 'hf_secret' } },
      { ...opts, env: { ...opts.env, HUGGING_FACE_HUB_TOKEN: 'hf_secret' } },
    ];
    for (const variant of variants) {
      await rm(cacheDir, { recursive: true, force: true });
      hub.requests.length = 0;
      const dir = await resolveModelSource('someone/private-model', variant);
      assert.ok(dir.endsWith(repo.commit));
      assert.ok(hub.requests.length > 0);
      for (const r of hub.requests) assert.equal(r.headers.authorization, 'Bearer hf_secret', r.path);
    }
  });

  it('reads HF_TOKEN from process.env by default', async function () {
    const saved = process.env.HF_TOKEN;
    process.env.HF_TOKEN = 'hf_secret';
    try {
      await resolveModelSource('someone/private-model', { cacheDir, endpoint: hub.url });
    } finally {
      if (saved === undefined) delete process.env.HF_TOKEN;
      else process.env.HF_TOKEN = saved;
    }
    assert.equal(hub.requests[0].headers.authorization, 'Bearer hf_secret');
  });

  it('a repo with only pytorch_model.bin fails clearly, with a conversion hint, before downloading', async function () {
    for (const noApi of [false, true]) {
      const h = noApi ? await FakeHub.start({ repos: { 'someone/pytorch-only': tinyModelRepo({ 'model.safetensors': null, 'pytorch_model.bin': { content: Buffer.alloc(64), lfs: true } }) }, noApi }) : hub;
      try {
        const e = await rejectsWith(resolveModelSource('someone/pytorch-only', { ...opts, endpoint: h.url }),
          'ERR_GPTNEO_UNSUPPORTED_MODEL', /only pytorch_model\.bin.*needs model\.safetensors/);
        assert.match(e.message, /safe_serialization=True/);
        assert.equal(h.requests.filter((r) => r.method === 'GET' && !r.path.startsWith('/api/')).length, 0);
      } finally {
        if (h !== hub) await h.close();
      }
    }
    assert.deepEqual(await readdir(cacheDir), []);
  });

  it('sharded safetensors and a repo without config.json are ERR_GPTNEO_UNSUPPORTED_MODEL', async function () {
    await rejectsWith(resolveModelSource('someone/sharded', opts), 'ERR_GPTNEO_UNSUPPORTED_MODEL', /sharded safetensors/);
    await rejectsWith(resolveModelSource('someone/no-config', opts), 'ERR_GPTNEO_UNSUPPORTED_MODEL', /no config\.json/);
  });

  it('an unreachable endpoint fails fast with ERR_GPTNEO_HUB_UNREACHABLE naming it, with remedies', async function () {
    const endpoint = hub.url;
    await hub.close();
    const e = await rejectsWith(resolveModelSource(REPO, { ...opts, endpoint }), 'ERR_GPTNEO_HUB_UNREACHABLE', /could not be reached/);
    assert.ok(e.message.includes(endpoint), e.message);
    assert.match(e.message, /--model DIR/);
    assert.match(e.message, /HF_ENDPOINT/);
    assert.match(e.message, /HF_HUB_OFFLINE=1/);
    hub = await FakeHub.start({ repos: {} }); // for afterEach
  });

  it('a Hub that accepts but never answers times out as ERR_GPTNEO_HUB_UNREACHABLE', async function () {
    hub.stall = true;
    await rejectsWith(resolveModelSource(REPO, { ...opts, timeoutMs: 150 }), 'ERR_GPTNEO_HUB_UNREACHABLE', /no response within 150 ms/);
    assert.equal(hub.requests.length, 1, 'no retries');
  });

  it('an AbortSignal cancels with ERR_GPTNEO_ABORTED (before and during a request)', async function () {
    await rejectsWith(resolveModelSource(REPO, { ...opts, signal: AbortSignal.abort() }), 'ERR_GPTNEO_ABORTED');
    assert.equal(hub.requests.length, 0);
    hub.stall = true;
    const controller = new AbortController();
    const pending = resolveModelSource(REPO, { ...opts, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(pending, 'ERR_GPTNEO_ABORTED');
  });

  it('a gated repo without a token is ERR_GPTNEO_HUB_UNAUTHORIZED pointing at the license page', async function () {
    const e = await rejectsWith(resolveModelSource('someone/gated-model', opts), 'ERR_GPTNEO_HUB_UNAUTHORIZED', /is gated/);
    assert.ok(e.message.includes(`${hub.url}/someone/gated-model`), e.message);
    const dir = await resolveModelSource('someone/gated-model', { ...opts, token: 'hf_secret' });
    assert.ok((await readdir(dir)).includes('model.safetensors'));
  });

  it('rejects a token that cannot be a header value without echoing it', async function () {
    const e = await rejectsWith(resolveModelSource(REPO, { ...opts, token: 'hf_se cret\n' }), 'ERR_GPTNEO_INVALID_ARGUMENT', /token/);
    assert.ok(!e.message.includes('hf_se'), e.message);
    assert.equal(hub.requests.length, 0);
  });

  it('an invalid HF_ENDPOINT is named, and does not stop loading from a local directory', async function () {
    const env = { ...opts.env, HF_ENDPOINT: 'not a url' };
    await rejectsWith(resolveModelSource(REPO, { cacheDir, env }), 'ERR_GPTNEO_INVALID_ARGUMENT', /HF_ENDPOINT/);
    assert.equal(await resolveModelSource(cacheDir, { env }), cacheDir);
  });

  it('a cache directory that cannot be written is ERR_GPTNEO_IO naming it', async function () {
    const notADir = join(cacheDir, 'file');
    await writeFile(notADir, 'x');
    const e = await rejectsWith(resolveModelSource(REPO, { ...opts, cacheDir: notADir }), 'ERR_GPTNEO_IO', /Could not write to the Hub cache/);
    assert.ok(e.message.includes(notADir));
  });

  it('an exception thrown by onProgress ends the download (it is not taken for a network failure)', async function () {
    const boom = new Error('listener failed');
    await assert.rejects(resolveModelSource(REPO, { ...opts, onProgress: () => { throw boom; } }), (e: unknown) => e === boom);
    assert.equal(hub.requests.filter((r) => r.method === 'GET' && !r.path.startsWith('/api/')).length, 1);
  });
});
