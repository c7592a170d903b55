// The official `openai` npm client against the server: completions (whole and streamed),
// embeddings (float and the client's default base64), models, and errors as the client's classes.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { GptNeoModel } from '../lib/model/model.js';
import { loadTinyModel, startServer, type RunningServer } from './helpers/server.js';

const API_KEY = 'sk-openai-client-test';

describe('80 server: the official openai client', function () {
  let model: GptNeoModel;
  let srv: RunningServer;
  let client: OpenAI;

  before(async () => {
    model = await loadTinyModel();
    srv = await startServer(model, { apiKey: API_KEY });
    client = new OpenAI({ baseURL: `${srv.base}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 20_000 });
  });
  after(async () => {
    await srv?.server.close();
    await model?.dispose();
  });

  it('completions.create: greedy text and usage as the library generates them', async () => {
    const prompt = 'The official client says';
    const completion = await client.completions.create({ model: 'tiny-neo', prompt, max_tokens: 8, temperature: 0 });
    const expected = await model.generate(prompt, { maxNewTokens: 8, temperature: 0 });
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.model, 'tiny-neo');
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0].text, expected.text);
    assert.equal(completion.choices[0].finish_reason, expected.finishReason);
    assert.deepEqual(completion.usage, {
      prompt_tokens: expected.usage.promptTokens, completion_tokens: expected.usage.completionTokens,
      total_tokens: expected.usage.totalTokens,
    });
  });

  for (const [what, params] of [
    ['temperature 0', { temperature: 0 }],
    ['the same seed at temperature 0.8', { temperature: 0.8, top_p: 0.9, seed: 1234 }],
  ] as const) {
    it(`streamed text equals the whole answer for ${what}`, async () => {
      const body = { model: 'tiny-neo', prompt: 'Streams and wholes agree', max_tokens: 12, ...params };
      const whole = await client.completions.create(body);
        const stream = await client.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
      let text = '';
      let finish: string | null = null;
      let usage: unknown;
      for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices) {
          text += choice.text;
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
      assert.equal(text, whole.choices[0].text);
      assert.equal(finish, whole.choices[0].finish_reason);
      assert.deepEqual(usage, whole.usage);
    });
  }

  it('embeddings.create: float and the default base64 decode to the vectors model.embed computes', async () => {
    const input = ['an embedding', 'and another one'];
    const asFloat = await client.embeddings.create({ model: 'tiny-neo', input, encoding_format: 'float' });
    const asDefault = await client.embeddings.create({ model: 'tiny-neo', input });  // the client asks for base64
    const expected = await model.embed(input);
    assert.equal(asFloat.data.length, 2);
    for (let i = 0; i < 2; i++) {
      assert.equal(asFloat.data[i].index, i);
      assert.deepEqual(asFloat.data[i].embedding, Array.from(expected[i]!));
      assert.deepEqual(Array.from(asDefault.data[i].embedding), Array.from(expected[i]!));
    }
    assert.equal(asFloat.usage.prompt_tokens, input.reduce((n, t) => n + model.tokenizer!.encode(t).length, 0));
  });

  it('models.list and models.retrieve find the served model', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ['tiny-neo']);
    const one = await client.models.retrieve('tiny-neo');
    assert.equal(one.id, 'tiny-neo');
    assert.equal(one.object, 'model');
  });

  it('errors arrive as the client\'s error classes with status, param and code', async () => {
    await assert.rejects(client.completions.create({ model: 'tiny-neo', prompt: 'x', n: 2 }), (e: any) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.status, 400);
      assert.equal(e.param, 'n');
      assert.equal(e.code, 'unsupported_value');
      return true;
    });
    const wrongKey = new OpenAI({ baseURL: `${srv.base}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(wrongKey.models.list(), (e: any) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    await assert.rejects(client.completions.create({ model: 'other-model', prompt: 'x' }),
      (e: any) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  });
});
