// The `gpt-neo serve` and `gpt-neo embed` commands, run as child processes on the fixture model.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { GptNeoModel } from '../lib/model/model.js';
import { fixture, repoRoot } from './helpers/paths.js';
import { loadTinyModel, postJson, rawRequest } from './helpers/server.js';

const CLI = join(repoRoot, 'dist', 'lib', 'cli', 'main.js');
const MODEL_ARGS = ['--model', fixture('tiny-neo-gpt2vocab'), '--device', 'cpu', '--threads', '1'];

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: Record<string, string> = {}, stdin?: string): Run {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdin!.end(stdin);
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function waitForOutput(r: Run, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = r.stderr().match(pattern);
    if (m) return m;
    if (r.child.exitCode !== null || Date.now() > end) throw new Error(`no ${pattern} in stderr: ${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('80 server: CLI', function () {
  let model: GptNeoModel;
  before(async () => {
    model = await loadTinyModel();
  });
  after(async () => {
    await model?.dispose();
  });

  it('serve: listens on 127.0.0.1, takes the key from GPTNEO_API_KEY, drains on SIGTERM and exits 0', async () => {
    const r = run(['serve', ...MODEL_ARGS, '--port', '0', '--model-id', 'tiny'], { GPTNEO_API_KEY: 'sk-cli' });
    try {
      const [, port] = await waitForOutput(r, /serving tiny on http:\/\/127\.0\.0\.1:(\d+) \(API key required\)/);
      const p = Number(port);
      assert.equal((await rawRequest(p, 'GET', '/v1/models')).status, 401);
      const models = await rawRequest(p, 'GET', '/v1/models', undefined, { Authorization: 'Bearer sk-cli' });
      assert.deepEqual(models.json.data.map((m: any) => m.id), ['tiny']);
      const inFlight = postJson(p, '/v1/completions', { prompt: 'drain', max_tokens: 60, ignore_eos: true },
        { Authorization: 'Bearer sk-cli' });
      const auth = { Authorization: 'Bearer sk-cli' };
      while (!(await rawRequest(p, 'GET', '/metrics', undefined, auth)).text.includes('\ngptneo_requests_running 1\n')) {
        await new Promise((res) => setTimeout(res, 5));
      }
      r.child.kill('SIGTERM');
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.equal(res.json.usage.completion_tokens, 60);
      assert.equal(await r.exit, 0);
      assert.match(r.stderr(), /SIGTERM: draining/);
      assert.match(r.stderr(), /stopped/);
    } finally {
      r.child.kill('SIGKILL');
    }
  });

  it('serve: a second signal during the drain exits at once', async () => {
    const r = run(['serve', ...MODEL_ARGS, '--port', '0']);
    try {
      const [, port] = await waitForOutput(r, /serving \S+ on http:\/\/127\.0\.0\.1:(\d+)\n/);
      const p = Number(port);
      const inFlight = postJson(p, '/v1/completions', { prompt: 'long', max_tokens: null, ignore_eos: true }).catch((e) => e);
      while (!(await rawRequest(p, 'GET', '/metrics')).text.includes('\ngptneo_requests_running 1\n')) {
        await new Promise((res) => setTimeout(res, 5));
      }
      r.child.kill('SIGINT');
      await waitForOutput(r, /SIGINT: draining/);
      r.child.kill('SIGINT');
      assert.equal(await r.exit, 130);
      assert.equal(((await inFlight) as NodeJS.ErrnoException).code, 'ECONNRESET');
      assert.doesNotMatch(r.stderr(), /stopped/);
    } finally {
      r.child.kill('SIGKILL');
    }
  });

  it('serve --help prints usage and exits 0; a bad option exits 2 before loading anything', async () => {
    const help = run(['serve', '--help']);
    assert.equal(await help.exit, 0);
    assert.match(help.stdout(), /^Usage: gpt-neo serve/);
    const bad = run(['serve', '--model', '/does/not/exist', '--max-concurrent', '0']);
    assert.equal(await bad.exit, 2);
    assert.match(bad.stderr(), /Expected positive integer for maxConcurrent but received 0/);
  });

  it('embed TEXT...: one JSON line per text, equal to model.embed', async () => {
    const texts = ['first text', 'second, longer text'];
    const r = run(['embed', ...MODEL_ARGS, ...texts]);
    assert.equal(await r.exit, 0, r.stderr());
    const lines = r.stdout().trimEnd().split('\n').map((l) => JSON.parse(l));
    const expected = await model.embed(texts);
    assert.deepEqual(lines, expected.map((v, index) => ({ index, embedding: Array.from(v) })));
  });

  it('embed reads stdin lines (index = line number, blank lines skipped) with --pooling and --no-normalize', async () => {
    const r = run(['embed', ...MODEL_ARGS, '--pooling', 'last', '--no-normalize', '--batch', '1'], {}, 'alpha\n\nbeta gamma\n');
    assert.equal(await r.exit, 0, r.stderr());
    const lines = r.stdout().trimEnd().split('\n').map((l) => JSON.parse(l));
    // --batch 1 embeds each line on its own, so compare with texts embedded one at a time (texts
    // packed into one step can differ in the last bits).
    const opts = { pooling: 'last', normalize: false } as const;
    const [alpha] = await model.embed(['alpha'], opts);
    const [beta] = await model.embed(['beta gamma'], opts);
    assert.deepEqual(lines, [{ index: 0, embedding: Array.from(alpha!) }, { index: 2, embedding: Array.from(beta!) }]);
  });

  it('embed --help prints usage; --pooling max is a usage error', async () => {
    const help = run(['embed', '--help']);
    assert.equal(await help.exit, 0);
    assert.match(help.stdout(), /^Usage: gpt-neo embed/);
    const bad = run(['embed', '--pooling', 'max', 'x']);
    assert.equal(await bad.exit, 2);
    assert.match(bad.stderr(), /--pooling expects mean, last or first/);
  });
});
