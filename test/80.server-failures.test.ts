// How the server reports model failures, with a scripted stand-in model (no native code): an
// internal error mid-stream ends the stream with an in-band error event, a whole response becomes
// a 500, one failing prompt stops its siblings, and only unexpected failures reach onError.
import assert from 'node:assert/strict';
import type { GenerationChunk } from '../lib/engine/types.js';
import { GptNeoError } from '../lib/errors.js';
import type { GenerateOptions } from '../lib/model/model.js';
import type { ServedModel } from '../lib/server/index.js';
import { Tokenizer } from '../lib/tokenizer/index.js';
import { fixture } from './helpers/paths.js';
import { postJson, sseEvents, startServer, waitUntil, type RunningServer } from './helpers/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A model whose stream() follows a script chosen by the prompt's first token. */
function scriptedModel(tokenizer: Tokenizer, script: (ids: number[], options: GenerateOptions) => AsyncIterable<GenerationChunk>): ServedModel {
  return {
    config: { vocabSize: 50257, eosTokenId: 50256, hiddenSize: 4 } as ServedModel['config'],
    tokenizer,
    contextSize: 256,
    stats: () => ({ steps: 0, computedTokens: 0, running: 0, waiting: 0, preemptions: 0,
      kv: { numBlocks: 1, blockSize: 16, freeBlocks: 1, usedBlocks: 0, cachedBlocks: 0, evictableBlocks: 0,
        sequences: 0, prefixHits: 0, prefixQueries: 0, hitTokens: 0, queryTokens: 0 } }) as ReturnType<ServedModel['stats']>,
    embed: async () => { throw new GptNeoError('ERR_GPTNEO_DISPOSED', 'This model has been disposed'); },
    stream: (prompt, options = {}) => script(prompt as number[], options),
  };
}

const usage = { promptTokens: 1, completionTokens: 1, totalTokens: 2, cachedPromptTokens: 0 };

describe('80 server: model failures', function () {
  let tokenizer: Tokenizer;
  let srv: RunningServer;
  let errors: unknown[];
  let aborted: boolean[];

  before(async () => {
    tokenizer = await Tokenizer.fromDir(fixture('tiny-neo-gpt2vocab'));
  });
  beforeEach(async () => {
    errors = [];
    aborted = [];
    const model = scriptedModel(tokenizer, async function* (ids, options) {
      const [first] = ids;
      if (first === 1) {  // one token, then an internal failure
        yield { text: 'partial', tokenId: 5 };
        await sleep(5);
        throw new GptNeoError('ERR_GPTNEO_INTERNAL', 'kernel exploded');
      }
      if (first === 2) throw new GptNeoError('ERR_GPTNEO_DISPOSED', 'This model has been disposed');
      if (first === 3) {  // runs until aborted
        for (let i = 0; i < 500 && !options.signal?.aborted; i++) {
          yield { text: 'x', tokenId: 87 };
          await sleep(2);
        }
        aborted.push(options.signal?.aborted === true);
        yield { text: '', tokenId: 87, finishReason: 'abort', usage };
        return;
      }
      if (first === 4) throw new TypeError('a bug with a secret in it');
      yield { text: 'ok', tokenId: 482, finishReason: 'length', usage };
    });
    srv = await startServer(model, { onError: (e) => errors.push(e) });
  });
  afterEach(async () => {
    await srv.server.close();
  });

  it('an internal error mid-stream ends the stream with an error event, then [DONE]', async () => {
    const res = await postJson(srv.port, '/v1/completions', { prompt: [1], stream: true });
    assert.equal(res.status, 200);
    const events = sseEvents(res.text) as any[];
    assert.equal(events.length, 3);
    assert.equal(events[0].choices[0].text, 'partial');
    assert.deepEqual(events[1], { error: { message: 'The model failed: kernel exploded', type: 'server_error', param: null, code: 'internal_error' } });
    assert.equal(events[2], '[DONE]');
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as GptNeoError).code, 'ERR_GPTNEO_INTERNAL');
  });

  it('the same failure without streaming is a 500; a bug does not leak its message', async () => {
    const res = await postJson(srv.port, '/v1/completions', { prompt: [1] });
    assert.equal(res.status, 500);
    assert.equal(res.json.error.type, 'server_error');
    const bug = await postJson(srv.port, '/v1/completions', { prompt: [4] });
    assert.equal(bug.status, 500);
    assert.equal(bug.json.error.message, 'Internal server error');
    assert.equal(errors.length, 2);
    assert.ok(errors[1] instanceof TypeError);
  });

  it('a disposed model is a 503, not reported to onError', async () => {
    const res = await postJson(srv.port, '/v1/completions', { prompt: [2] });
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, 'model_unavailable');
    const emb = await postJson(srv.port, '/v1/embeddings', { input: 'x' });
    assert.equal(emb.status, 503);
    assert.deepEqual(errors, []);
  });

  it('one failing prompt of several aborts the others and fails the request', async () => {
    const res = await postJson(srv.port, '/v1/completions', { prompt: [[3], [1]] });
    assert.equal(res.status, 500);
    await waitUntil(() => aborted.length === 1, 2000, 'the sibling generation to stop');
    assert.deepEqual(aborted, [true]);
  });

  it('a healthy prompt still answers normally', async () => {
    const res = await postJson(srv.port, '/v1/completions', { prompt: [5] });
    assert.equal(res.status, 200);
    assert.equal(res.json.choices[0].text, 'ok');
  });
});
