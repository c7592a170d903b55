// A bounded load test: many small completions from many concurrent clients on the fixture model.
// Every request must be answered correctly and all KV blocks returned at the end. (Timings are
// for benchmarks; this only checks that nothing is lost, refused or leaked under load.)
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import type { GptNeoModel } from '../lib/model/model.js';
import { loadTinyModel, startServer, type RawResponse, type RunningServer } from './helpers/server.js';

const REQUESTS = 300;
const CONCURRENCY = 32;
const MAX_TOKENS = 8;

describe('80 server: load', function () {
  let model: GptNeoModel;
  let srv: RunningServer;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  before(async () => {
    model = await loadTinyModel();
    srv = await startServer(model);
  });
  after(async () => {
    agent.destroy();
    await srv?.server.close();
    await model?.dispose();
  });

  function post(body: unknown): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/v1/completions', agent,
        headers: { 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, json: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  it(`${REQUESTS} completions, ${CONCURRENCY} at a time: all answered, greedy ones as the library answers, no KV leaked`, async () => {
    const prompts = Array.from({ length: 12 }, (_, i) => `Request number ${i} says`);
    const expected = await Promise.all(prompts.map((p) => model.generate(p, { maxNewTokens: MAX_TOKENS, temperature: 0, ignoreEos: true })));
    const results: RawResponse[] = new Array(REQUESTS);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < REQUESTS; i = next++) {
        // Every tenth request samples (seeded); the rest are greedy, so their text can be checked.
        const greedy = i % 10 !== 0;
        results[i] = await post({
          prompt: prompts[i % prompts.length], max_tokens: MAX_TOKENS, ignore_eos: true,
          ...(greedy ? { temperature: 0 } : { temperature: 0.9, seed: i }),
        });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    for (let i = 0; i < REQUESTS; i++) {
      const r = results[i]!;
      assert.equal(r.status, 200, `request ${i}: ${r.text}`);
      assert.equal(r.json.choices[0].finish_reason, 'length');
      assert.equal(r.json.usage.completion_tokens, MAX_TOKENS);
      if (i % 10 !== 0) assert.equal(r.json.choices[0].text, expected[i % prompts.length]!.text, `request ${i}`);
    }
    assert.equal(new Set(results.map((r) => r.json.id)).size, REQUESTS, 'every response has its own id');
    const stats = model.stats();
    assert.equal(stats.kv.usedBlocks, 0);
    assert.equal(stats.running, 0);
    assert.equal(stats.waiting, 0);
  });
});
