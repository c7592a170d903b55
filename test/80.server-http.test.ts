// The server's HTTP surface over raw requests: response shapes against the library's own results,
// OpenAI-style errors for bad input, routing, auth, health and metrics.
import assert from 'node:assert/strict';
import type { GptNeoModel } from '../lib/model/model.js';
import { loadTinyModel, postJson, rawRequest, sseEvents, startServer, type RunningServer } from './helpers/server.js';

function assertOpenAiError(body: any, status: number, expected: { param?: string | null; code?: string; type?: string }): void {
  assert.ok(body && typeof body.error === 'object', `expected an error body for ${status}`);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  if (expected.type !== undefined) assert.equal(body.error.type, expected.type);
  if (expected.param !== undefined) assert.equal(body.error.param, expected.param);
  if (expected.code !== undefined) assert.equal(body.error.code, expected.code);
}

describe('80 server: HTTP surface', function () {
  let model: GptNeoModel;
  let srv: RunningServer;

  before(async () => {
    model = await loadTinyModel();
    srv = await startServer(model);
  });
  after(async () => {
    await srv?.server.close();
    await model?.dispose();
  });

  describe('POST /v1/completions', () => {
    it('answers in OpenAI shape with the text and usage the library generates', async () => {
      const prompt = 'The quick brown fox';
      const res = await postJson(srv.port, '/v1/completions',
        { model: 'tiny-neo', prompt, max_tokens: 8, temperature: 0, ignore_eos: true });
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const expected = await model.generate(prompt, { maxNewTokens: 8, temperature: 0, ignoreEos: true });
      const body = res.json;
      assert.match(body.id, /^cmpl-[0-9a-f]{24}$/);
      assert.equal(body.object, 'text_completion');
      assert.equal(body.model, 'tiny-neo');
      assert.ok(Number.isInteger(body.created) && Math.abs(body.created - Date.now() / 1000) < 60);
      assert.deepEqual(body.choices, [{ text: expected.text, index: 0, logprobs: null, finish_reason: 'length' }]);
      const promptTokens = model.tokenizer!.encode(prompt).length;
      assert.deepEqual(body.usage, { prompt_tokens: promptTokens, completion_tokens: 8, total_tokens: promptTokens + 8 });
    });

    it('defaults max_tokens to 16, as OpenAI does', async () => {
      const res = await postJson(srv.port, '/v1/completions', { prompt: 'Hello', temperature: 0, ignore_eos: true });
      assert.equal(res.status, 200);
      assert.equal(res.json.usage.completion_tokens, 16);
      assert.equal(res.json.choices[0].finish_reason, 'length');
    });

    it('runs an array of prompts as one choice each, in order, with summed usage', async () => {
      const prompts = ['Hello there', 'A long time ago', 'Once'];
      const res = await postJson(srv.port, '/v1/completions', { prompt: prompts, max_tokens: 5, temperature: 0, ignore_eos: true });
      assert.equal(res.status, 200);
      const expected = await Promise.all(prompts.map((p) => model.generate(p, { maxNewTokens: 5, temperature: 0, ignoreEos: true })));
      assert.deepEqual(res.json.choices.map((c: any) => [c.index, c.text]), expected.map((e, i) => [i, e.text]));
      const promptTokens = prompts.reduce((n, p) => n + model.tokenizer!.encode(p).length, 0);
      assert.deepEqual(res.json.usage, { prompt_tokens: promptTokens, completion_tokens: 15, total_tokens: promptTokens + 15 });
    });

    it('takes token-id prompts (one array, or an array of arrays) and matches the text prompt', async () => {
      const ids = model.tokenizer!.encode('Token ids work too');
      const opts = { max_tokens: 6, temperature: 0, ignore_eos: true };
      const asText = await postJson(srv.port, '/v1/completions', { prompt: 'Token ids work too', ...opts });
      const asIds = await postJson(srv.port, '/v1/completions', { prompt: ids, ...opts });
      const asBatch = await postJson(srv.port, '/v1/completions', { prompt: [ids, ids], ...opts });
      assert.equal(asIds.status, 200);
      assert.equal(asIds.json.choices[0].text, asText.json.choices[0].text);
      assert.deepEqual(asBatch.json.choices.map((c: any) => c.text), [asText.json.choices[0].text, asText.json.choices[0].text]);
    });

    it('stops at a stop string, leaving it out, with finish_reason stop', async () => {
      const free = await model.generate('Stop here', { maxNewTokens: 12, temperature: 0, ignoreEos: true });
      const words = free.text.split(' ').filter((w) => w.length > 0);
      assert.ok(words.length >= 3, `need a few words to pick a stop string from: ${JSON.stringify(free.text)}`);
      const stop = ` ${words[2]}`;
      const res = await postJson(srv.port, '/v1/completions',
        { prompt: 'Stop here', max_tokens: 12, temperature: 0, ignore_eos: true, stop: [stop] });
      assert.equal(res.status, 200);
      assert.equal(res.json.choices[0].finish_reason, 'stop');
      assert.equal(res.json.choices[0].text, free.text.slice(0, free.text.indexOf(stop)));
    });

    it('streams text_completion chunks whose text joins to the whole answer, then usage and [DONE]', async () => {
      const body = { prompt: 'Streaming works', max_tokens: 10, temperature: 0, ignore_eos: true };
      const whole = await postJson(srv.port, '/v1/completions', body);
      const res = await postJson(srv.port, '/v1/completions', { ...body, stream: true, stream_options: { include_usage: true } });
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      const events = sseEvents(res.text);
      assert.equal(events.at(-1), '[DONE]');
      const usageChunk = events.at(-2) as any;
      assert.deepEqual(usageChunk.choices, []);
      assert.deepEqual(usageChunk.usage, whole.json.usage);
      const chunks = events.slice(0, -2) as any[];
      assert.ok(chunks.length >= 2);
      for (const c of chunks) {
        assert.match(c.id, /^cmpl-/);
        assert.equal(c.id, chunks[0].id);
        assert.equal(c.object, 'text_completion');
        assert.equal(c.model, 'tiny-neo');
        assert.equal(c.usage, null);
        assert.equal(c.choices.length, 1);
        assert.equal(c.choices[0].index, 0);
        assert.equal(c.choices[0].logprobs, null);
      }
      assert.deepEqual(chunks.map((c) => c.choices[0].finish_reason), [...chunks.slice(1).map(() => null), 'length']);
      assert.equal(chunks.map((c) => c.choices[0].text).join(''), whole.json.choices[0].text);
    });

    it('streams several prompts interleaved, each choice ending once with its finish_reason', async () => {
      const res = await postJson(srv.port, '/v1/completions',
        { prompt: ['One', 'Two'], max_tokens: 4, temperature: 0, ignore_eos: true, stream: true });
      const events = sseEvents(res.text);
      assert.equal(events.at(-1), '[DONE]');
      const chunks = events.slice(0, -1) as any[];
      assert.ok(chunks.every((c) => !('usage' in c)), 'no usage field without stream_options.include_usage');
      for (const index of [0, 1]) {
        const mine = chunks.filter((c) => c.choices[0].index === index);
        assert.deepEqual(mine.map((c) => c.choices[0].finish_reason).filter((f) => f !== null), ['length']);
        const expected = await model.generate(index === 0 ? 'One' : 'Two', { maxNewTokens: 4, temperature: 0, ignoreEos: true });
        assert.equal(mine.map((c) => c.choices[0].text).join(''), expected.text);
      }
    });

    const badBodies: Array<[string, Record<string, unknown>, string]> = [
      ['max_tokens is a string', { prompt: 'x', max_tokens: 'x' }, 'max_tokens'],
      ['max_tokens is 0', { prompt: 'x', max_tokens: 0 }, 'max_tokens'],
      ['max_tokens is fractional', { prompt: 'x', max_tokens: 1.5 }, 'max_tokens'],
      ['temperature is negative', { prompt: 'x', temperature: -1 }, 'temperature'],
      ['temperature is above 2', { prompt: 'x', temperature: 2.5 }, 'temperature'],
      ['temperature is a string', { prompt: 'x', temperature: '1' }, 'temperature'],
      ['top_p is above 1', { prompt: 'x', top_p: 1.5 }, 'top_p'],
      ['presence_penalty is out of range', { prompt: 'x', presence_penalty: 3 }, 'presence_penalty'],
      ['frequency_penalty is out of range', { prompt: 'x', frequency_penalty: -2.5 }, 'frequency_penalty'],
      ['seed is negative', { prompt: 'x', seed: -1 }, 'seed'],
      ['n is 2', { prompt: 'x', n: 2 }, 'n'],
      ['best_of is 3', { prompt: 'x', best_of: 3 }, 'best_of'],
      ['echo is true', { prompt: 'x', echo: true }, 'echo'],
      ['logprobs are asked for', { prompt: 'x', logprobs: 2 }, 'logprobs'],
      ['suffix is given', { prompt: 'x', suffix: 'y' }, 'suffix'],
      ['stream is a string', { prompt: 'x', stream: 'yes' }, 'stream'],
      ['stop is a number', { prompt: 'x', stop: 3 }, 'stop'],
      ['stop has 5 strings', { prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      ['stop has an empty string', { prompt: 'x', stop: [''] }, 'stop'],
      ['logit_bias has a non-id key', { prompt: 'x', logit_bias: { abc: 1 } }, 'logit_bias'],
      ['logit_bias has an id out of the vocabulary', { prompt: 'x', logit_bias: { 50257: 1 } }, 'logit_bias'],
      ['logit_bias has a value out of range', { prompt: 'x', logit_bias: { 1: 101 } }, 'logit_bias'],
      ['an unknown field is sent', { prompt: 'x', max_token: 3 }, 'max_token'],
      ['prompt is missing', { max_tokens: 3 }, 'prompt'],
      ['prompt is a number', { prompt: 3 }, 'prompt'],
      ['prompt is an empty array', { prompt: [] }, 'prompt'],
      ['prompt has a token id out of the vocabulary', { prompt: [1, 50257] }, 'prompt'],
      ['prompt has a fractional token id', { prompt: [1.5] }, 'prompt'],
      ['prompt mixes a string and a number', { prompt: ['a', 1] }, 'prompt'],
      ['model is a number', { prompt: 'x', model: 1 }, 'model'],
      ['repetition_penalty is 0', { prompt: 'x', repetition_penalty: 0 }, 'repetition_penalty'],
      ['top_k is -2', { prompt: 'x', top_k: -2 }, 'top_k'],
      ['min_p is above 1', { prompt: 'x', min_p: 1.5 }, 'min_p'],
      ['ignore_eos is a string', { prompt: 'x', ignore_eos: 'true' }, 'ignore_eos'],
      ['user is a number', { prompt: 'x', user: 7 }, 'user'],
      ['stream_options is not an object', { prompt: 'x', stream: true, stream_options: true }, 'stream_options'],
      ['stream_options has an unknown field', { prompt: 'x', stream: true, stream_options: { usage: true } }, 'stream_options.usage'],
    ];
    for (const [what, body, param] of badBodies) {
      it(`400 names the field when ${what}`, async () => {
        const res = await postJson(srv.port, '/v1/completions', body);
        assert.equal(res.status, 400, res.text);
        assertOpenAiError(res.json, 400, { type: 'invalid_request_error', param });
      });
    }

    it('400 messages follow the library wording', async () => {
      const res = await postJson(srv.port, '/v1/completions', { prompt: 'x', temperature: -1 });
      assert.equal(res.json.error.message, 'Expected number in [0, 2] for temperature but received -1');
      const res2 = await postJson(srv.port, '/v1/completions', { prompt: 'x', max_tokens: 'x' });
      assert.equal(res2.json.error.message, 'Expected positive integer for max_tokens but received "x"');
    });

    it('400 context_length_exceeded when prompt + max_tokens pass the context; exactly full is fine', async () => {
      const prompt = Array.from({ length: model.contextSize - 2 }, (_, i) => 100 + i);
      const res = await postJson(srv.port, '/v1/completions', { prompt, max_tokens: 3 });
      assert.equal(res.status, 400);
      assertOpenAiError(res.json, 400, { param: 'max_tokens', code: 'context_length_exceeded' });
      assert.match(res.json.error.message, new RegExp(`maximum context length is ${model.contextSize} tokens`));
      const exact = await postJson(srv.port, '/v1/completions', { prompt, max_tokens: 2, ignore_eos: true });
      assert.equal(exact.status, 200);
      assert.equal(exact.json.usage.completion_tokens, 2);
      const full = await postJson(srv.port, '/v1/completions', { prompt: [...prompt, 1, 2], max_tokens: null });
      assert.equal(full.status, 400);
      assertOpenAiError(full.json, 400, { param: 'prompt', code: 'context_length_exceeded' });
    });

    it('400 for malformed JSON, an empty body and a non-object body', async () => {
      for (const body of ['{"prompt": "x",', '', '[1,2]', '"text"', 'null']) {
        const res = await rawRequest(srv.port, 'POST', '/v1/completions', body, { 'Content-Type': 'application/json' });
        assert.equal(res.status, 400, body);
        assertOpenAiError(res.json, 400, { type: 'invalid_request_error', param: null, code: 'invalid_json' });
      }
    });

    it('404 model_not_found for another model name', async () => {
      const res = await postJson(srv.port, '/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x' });
      assert.equal(res.status, 404);
      assertOpenAiError(res.json, 404, { param: 'model', code: 'model_not_found' });
    });
  });

  describe('POST /v1/embeddings', () => {
    it('returns the vectors model.embed computes, as floats', async () => {
      const input = ['first text', 'the second one is longer'];
      const res = await postJson(srv.port, '/v1/embeddings', { model: 'tiny-neo', input });
      assert.equal(res.status, 200);
      const expected = await model.embed(input);
      assert.equal(res.json.object, 'list');
      assert.equal(res.json.model, 'tiny-neo');
      assert.deepEqual(res.json.data.map((d: any) => [d.object, d.index]), [['embedding', 0], ['embedding', 1]]);
      res.json.data.forEach((d: any, i: number) => assert.deepEqual(d.embedding, Array.from(expected[i]!)));
      const tokens = input.reduce((n, t) => n + model.tokenizer!.encode(t).length, 0);
      assert.deepEqual(res.json.usage, { prompt_tokens: tokens, total_tokens: tokens });
    });

    it('base64 is the little-endian float32 bytes of the same vector', async () => {
      const floats = await postJson(srv.port, '/v1/embeddings', { input: 'one string' });
      const b64 = await postJson(srv.port, '/v1/embeddings', { input: 'one string', encoding_format: 'base64' });
      assert.equal(b64.status, 200);
      const bytes = Buffer.from(b64.json.data[0].embedding, 'base64');
      assert.equal(bytes.length, model.config.hiddenSize * 4);
      const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
      assert.deepEqual(decoded, floats.json.data[0].embedding);
    });

    const badBodies: Array<[string, Record<string, unknown>, string]> = [
      ['input is missing', {}, 'input'],
      ['input is empty', { input: '' }, 'input'],
      ['input is an empty array', { input: [] }, 'input'],
      ['input holds a number', { input: ['a', 2] }, 'input'],
      ['input is token ids', { input: [1, 2, 3] }, 'input'],
      ['encoding_format is unknown', { input: 'a', encoding_format: 'float16' }, 'encoding_format'],
      ['dimensions differs from the model', { input: 'a', dimensions: 8 }, 'dimensions'],
      ['an unknown field is sent', { input: 'a', pooling: 'mean' }, 'pooling'],
    ];
    for (const [what, body, param] of badBodies) {
      it(`400 names the field when ${what}`, async () => {
        const res = await postJson(srv.port, '/v1/embeddings', body);
        assert.equal(res.status, 400, res.text);
        assertOpenAiError(res.json, 400, { type: 'invalid_request_error', param });
      });
    }

    it('400 context_length_exceeded for an input longer than the context', async () => {
      const res = await postJson(srv.port, '/v1/embeddings', { input: ['short', ' a'.repeat(model.contextSize + 1)] });
      assert.equal(res.status, 400);
      assertOpenAiError(res.json, 400, { param: 'input', code: 'context_length_exceeded' });
    });
  });

  describe('models, health, routing', () => {
    it('GET /v1/models lists the one model; GET /v1/models/{id} finds it', async () => {
      const list = await rawRequest(srv.port, 'GET', '/v1/models');
      assert.equal(list.status, 200);
      assert.equal(list.json.object, 'list');
      assert.equal(list.json.data.length, 1);
      assert.deepEqual(Object.keys(list.json.data[0]).sort(), ['created', 'id', 'object', 'owned_by']);
      assert.equal(list.json.data[0].id, 'tiny-neo');
      assert.equal(list.json.data[0].object, 'model');
      const one = await rawRequest(srv.port, 'GET', '/v1/models/tiny-neo');
      assert.deepEqual(one.json, list.json.data[0]);
      const other = await rawRequest(srv.port, 'GET', '/v1/models/gpt-4');
      assert.equal(other.status, 404);
      assertOpenAiError(other.json, 404, { code: 'model_not_found' });
    });

    it('GET /health answers 200 {status: ok} while serving', async () => {
      const res = await rawRequest(srv.port, 'GET', '/health');
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { status: 'ok' });
    });

    it('404 for an unknown route, 405 with Allow for a known route and another method', async () => {
      const missing = await rawRequest(srv.port, 'GET', '/v1/chat/nothing');
      assert.equal(missing.status, 404);
      assertOpenAiError(missing.json, 404, { type: 'invalid_request_error', code: 'unknown_route' });
      const wrong = await rawRequest(srv.port, 'GET', '/v1/completions');
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.allow, 'POST');
      assertOpenAiError(wrong.json, 405, { code: 'method_not_allowed' });
      const doubled = await rawRequest(srv.port, 'GET', '//evil/v1/models');
      assert.equal(doubled.status, 404, 'a path starting with // is a path, not a host');
      const absolute = await rawRequest(srv.port, 'GET', 'http://anything/v1/models');
      assert.equal(absolute.status, 200);
      const query = await rawRequest(srv.port, 'GET', '/v1/models?x=1');
      assert.equal(query.status, 200);
      const del = await rawRequest(srv.port, 'DELETE', '/health');
      assert.equal(del.status, 405);
      assert.equal(del.headers.allow, 'GET');
    });
  });

  describe('GET /metrics', () => {
    it('exposes Prometheus text: request counts, tokens, queue, KV gauges and histograms', async () => {
      await postJson(srv.port, '/v1/completions', { prompt: 'count me', max_tokens: 3, ignore_eos: true });
      await rawRequest(srv.port, 'GET', '/nowhere');
      const res = await rawRequest(srv.port, 'GET', '/metrics');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      const lines = res.text.trimEnd().split('\n');
      for (const line of lines) {
        assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{(\w+="[^"]*",?)+\})? (-?\d+(\.\d+)?(e[-+]?\d+)?|\+Inf|NaN))$/, line);
      }
      const value = (series: string): number => {
        const line = lines.find((l) => l.startsWith(`${series} `));
        assert.ok(line, `missing series ${series}`);
        return Number(line.slice(series.length + 1));
      };
      assert.ok(value('gptneo_http_requests_total{route="/v1/completions",method="POST",status="200"}') >= 1);
      assert.ok(value('gptneo_http_requests_total{route="/v1/completions",method="POST",status="400"}') >= 1);
      assert.ok(value('gptneo_http_requests_total{route="unmatched",method="GET",status="404"}') >= 1);
      assert.ok(value('gptneo_generated_tokens_total') >= 3);
      assert.ok(value('gptneo_prompt_tokens_total') >= 2);
      const stats = model.stats();
      assert.equal(value('gptneo_kv_blocks_used'), stats.kv.usedBlocks);
      assert.equal(value('gptneo_kv_blocks_free'), stats.kv.freeBlocks);
      assert.equal(value('gptneo_kv_blocks_total'), stats.kv.numBlocks);
      assert.equal(value('gptneo_requests_queued'), 0);
      assert.equal(value('gptneo_requests_running'), 0);
      const ttftCount = value('gptneo_time_to_first_token_seconds_count');
      assert.ok(ttftCount >= 1);
      assert.equal(value('gptneo_time_to_first_token_seconds_bucket{le="+Inf"}'), ttftCount);
      assert.ok(value('gptneo_http_request_duration_seconds_count{route="/v1/completions"}') >= 1);
      for (const name of ['gptneo_http_requests_total', 'gptneo_generated_tokens_total']) assert.ok(lines.includes(`# TYPE ${name} counter`));
      for (const name of ['gptneo_kv_blocks_used', 'gptneo_requests_queued', 'gptneo_requests_running']) assert.ok(lines.includes(`# TYPE ${name} gauge`));
      for (const name of ['gptneo_time_to_first_token_seconds', 'gptneo_http_request_duration_seconds']) assert.ok(lines.includes(`# TYPE ${name} histogram`));
    });
  });
});

describe('80 server: API key', function () {
  let model: GptNeoModel;
  let srv: RunningServer;

  before(async () => {
    model = await loadTinyModel();
    srv = await startServer(model, { apiKey: 'sk-test-key' });
  });
  after(async () => {
    await srv?.server.close();
    await model?.dispose();
  });

  it('401 without an Authorization header, and with a wrong key or scheme', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'missing_api_key'],
      [{ Authorization: 'Bearer sk-wrong' }, 'invalid_api_key'],
      [{ Authorization: 'Bearer sk-test-key-and-more' }, 'invalid_api_key'],
      [{ Authorization: 'Basic sk-test-key' }, 'missing_api_key'],
    ];
    for (const [headers, code] of cases) {
      for (const [method, path] of [['POST', '/v1/completions'], ['GET', '/v1/models'], ['GET', '/metrics'], ['GET', '/unknown']]) {
        const res = await rawRequest(srv.port, method!, path!, method === 'POST' ? '{"prompt":"x"}' : undefined, headers);
        assert.equal(res.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`);
        assert.equal(res.headers['www-authenticate'], 'Bearer');
        assertOpenAiError(res.json, 401, { type: 'authentication_error', code });
      }
    }
  });

  it('serves requests that carry the key; /health needs none', async () => {
    const ok = await postJson(srv.port, '/v1/completions', { prompt: 'x', max_tokens: 2 }, { Authorization: 'Bearer sk-test-key' });
    assert.equal(ok.status, 200);
    const health = await rawRequest(srv.port, 'GET', '/health');
    assert.equal(health.status, 200);
  });
});
