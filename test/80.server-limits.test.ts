// The server under pressure: body size limit, the bounded queue (429), clients that go away
// mid-generation (their KV is freed), and graceful close (drain, then abort what is left).
import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { GptNeoModel } from '../lib/model/model.js';
import {
  loadTinyModel, observedModel, postJson, rawRequest, sseEvents, startServer, waitUntil, type RunningServer,
} from './helpers/server.js';

/** A streaming completion whose first SSE bytes have arrived; the caller may read on or hang up. */
interface OpenStream {
  req: ClientRequest;
  res: IncomingMessage;
  /** Everything received so far (grows while the stream runs). */
  received: () => string;
  /** Resolves with the whole body when the server ends the stream. */
  ended: Promise<string>;
}

function openStream(port: number, body: Record<string, unknown>): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/completions', agent: false,
      headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      const ended = new Promise<string>((resolveEnd, rejectEnd) => {
        res.on('end', () => resolveEnd(text));
        res.on('error', rejectEnd);
        res.on('aborted', () => rejectEnd(new Error('aborted')));
      });
      ended.catch(() => {});
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        const first = text === '';
        text += c;
        if (first) resolve({ req, res, received: () => text, ended });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify({ ...body, stream: true }));
  });
}

/** One series' value from GET /metrics. */
async function metric(port: number, series: string): Promise<number> {
  const res = await rawRequest(port, 'GET', '/metrics');
  const line = res.text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function waitForMetric(port: number, series: string, value: number): Promise<void> {
  const end = Date.now() + 5000;
  while ((await metric(port, series)) !== value) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${series} == ${value}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Long enough to be certainly running when the test acts: the whole context, EOS ignored.
const LONG = { prompt: 'Long', max_tokens: null, temperature: 0, ignore_eos: true };

describe('80 server: limits, disconnects and shutdown', function () {
  let model: GptNeoModel;
  const servers: RunningServer[] = [];

  before(async () => {
    model = await loadTinyModel();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.server.close();
    await waitUntil(() => model.stats().kv.usedBlocks === 0, 5000, 'KV blocks to be freed after the test');
  });
  after(async () => {
    await model?.dispose();
  });

  // paceMs: the model's chunks passed on no faster than one per paceMs (observedModel).
  async function serve(options: Parameters<typeof startServer>[1] = {}, paceMs?: number) {
    const observed = observedModel(model, paceMs);
    const srv = await startServer(observed, options);
    servers.push(srv);
    return { ...srv, observed };
  }

  describe('body size', () => {
    it('413 for a declared Content-Length over the default 1 MiB, before the body is sent', async () => {
      const { port } = await serve();
      const res = await new Promise<{ status: number; headers: IncomingMessage['headers']; text: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/completions', agent: false,
          headers: { 'Content-Type': 'application/json', 'Content-Length': String(2 ** 20 + 1) } }, (r) => {
          let text = '';
          r.on('data', (c) => { text += c; });
          r.on('end', () => { resolve({ status: r.statusCode!, headers: r.headers, text }); req.destroy(); });
        });
        req.on('error', reject);
        req.write('{"prompt": "');  // the rest never comes
      });
      assert.equal(res.status, 413);
      assert.equal(res.headers.connection, 'close');
      const body = JSON.parse(res.text);
      assert.equal(body.error.type, 'invalid_request_error');
      assert.equal(body.error.code, 'request_too_large');
      assert.match(body.error.message, /limit of 1048576 bytes/);
    });

    it('accepts a body of exactly the limit', async () => {
      const { port } = await serve();
      const head = '{"prompt":"x","max_tokens":1,"user":"';
      const tail = '"}';
      const body = head + 'u'.repeat(2 ** 20 - head.length - tail.length) + tail;
      assert.equal(Buffer.byteLength(body), 2 ** 20);
      const res = await rawRequest(port, 'POST', '/v1/completions', body);
      assert.equal(res.status, 200, res.text);
    });

    it('413 for a chunked body that grows past the limit', async () => {
      const { port } = await serve({ maxBodyBytes: 1000 });
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/completions', agent: false,
          headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (r) => {
          r.resume();
          resolve(r.statusCode!);
          req.destroy();
        });
        req.on('error', (e: NodeJS.ErrnoException) => {
          // The server may close the socket while we are still writing; the response is what counts.
          if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') reject(e);
        });
        req.write(`{"prompt":"${'p'.repeat(600)}`);
        setTimeout(() => req.write('p'.repeat(600)), 20);
      });
      assert.equal(status, 413);
    });
  });

  describe('bounded queue', () => {
    it('queues up to maxQueue behind maxConcurrent, then answers 429 with Retry-After', async () => {
      const { port, observed } = await serve({ maxConcurrent: 1, maxQueue: 1 });
      const running = await openStream(port, LONG);
      await waitForMetric(port, 'gptneo_requests_running', 1);
      const queued = postJson(port, '/v1/completions', { prompt: 'queued', max_tokens: 2, ignore_eos: true });
      await waitForMetric(port, 'gptneo_requests_queued', 1);

      const refused = await postJson(port, '/v1/completions', { prompt: 'refused', max_tokens: 2 });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(refused.json.error.type, 'rate_limit_error');
      assert.equal(refused.json.error.code, 'server_busy');
      const refusedEmbedding = await postJson(port, '/v1/embeddings', { input: 'refused' });
      assert.equal(refusedEmbedding.status, 429);
      assert.ok(!running.received().includes('[DONE]'), 'the long generation was still running when the 429s came');

      running.req.destroy();
      const answered = await queued;
      assert.equal(answered.status, 200);
      assert.equal(answered.json.usage.completion_tokens, 2);
      assert.deepEqual(observed.finishReasons, ['abort', 'length']);
      assert.equal(await metric(port, 'gptneo_http_requests_total{route="/v1/completions",method="POST",status="429"}'), 1);
    });

    it('a queued request whose client leaves gives up its place', async () => {
      const { port } = await serve({ maxConcurrent: 1, maxQueue: 1 });
      const running = await openStream(port, LONG);
      const queued = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/completions', agent: false });
      queued.on('error', () => {});
      queued.end(JSON.stringify({ prompt: 'leaves', max_tokens: 2 }));
      await waitForMetric(port, 'gptneo_requests_queued', 1);
      queued.destroy();
      await waitForMetric(port, 'gptneo_requests_queued', 0);
      // Its place is free again: another request can wait there instead of getting a 429.
      const next = postJson(port, '/v1/completions', { prompt: 'next', max_tokens: 2, ignore_eos: true });
      await waitForMetric(port, 'gptneo_requests_queued', 1);
      running.req.destroy();
      assert.equal((await next).status, 200);
    });
  });

  describe('client disconnects', () => {
    it('hanging up mid-stream aborts the generation and frees its KV blocks', async () => {
      const { port, observed } = await serve();
      const stream = await openStream(port, LONG);
      assert.ok(model.stats().kv.usedBlocks > 0, 'the generation holds KV blocks while it runs');
      stream.req.destroy();
      await waitUntil(() => observed.finishReasons.length === 1, 5000, 'the generation to end');
      assert.deepEqual(observed.finishReasons, ['abort']);
      await waitUntil(() => model.stats().kv.usedBlocks === 0, 5000, 'usedBlocks back to 0');
      assert.equal(await metric(port, 'gptneo_http_requests_total{route="/v1/completions",method="POST",status="499"}'), 1);
    });

    it('hanging up on a non-streaming request aborts it too', async () => {
      // Paced (5 ms per chunk): the request is still being served when the client hangs up, on any machine.
      const { port, observed } = await serve({}, 5);
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/completions', agent: false });
      req.on('error', () => {});
      req.end(JSON.stringify(LONG));
      await waitUntil(() => observed.active() === 1, 5000, 'the generation to start');
      req.destroy();
      await waitUntil(() => observed.finishReasons.length === 1, 5000, 'the generation to end');
      assert.deepEqual(observed.finishReasons, ['abort']);
      await waitUntil(() => model.stats().kv.usedBlocks === 0, 5000, 'usedBlocks back to 0');
    });
  });

  describe('graceful close', () => {
    it('stops accepting, lets the in-flight request finish, then resolves', async () => {
      // Paced at 5 ms per chunk, the 40-token request stays in flight ~200 ms on any machine (the tiny model
      // generates it in a few ms: polling the model's running count for it failed under load).
      const srv = await serve({}, 5);
      const inFlight = postJson(srv.port, '/v1/completions', { prompt: 'drain me', max_tokens: 40, ignore_eos: true });
      await waitUntil(() => srv.observed.active() === 1, 5000, 'the request to run');
      let finishedWhenClosed: string[] | undefined;
      const closed = srv.server.close().then(() => { finishedWhenClosed = [...srv.observed.finishReasons]; });
      await assert.rejects(rawRequest(srv.port, 'GET', '/health'), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
      const res = await inFlight;
      await closed;
      assert.equal(res.status, 200);
      assert.equal(res.headers.connection, 'close');
      assert.equal(res.json.choices[0].finish_reason, 'length');
      assert.equal(res.json.usage.completion_tokens, 40);
      assert.deepEqual(finishedWhenClosed, ['length'], 'close() resolved only after the generation ran to its end');
    });

    it('after drainTimeoutMs aborts what is left: a stream ends with a 503 error event', async () => {
      // Paced at 5 ms per chunk, the ~250-token generation outlasts the 50 ms drain on any machine (the tiny
      // model itself generates it in ~10-40 ms, which made this test depend on the machine's speed).
      const srv = await serve({ drainTimeoutMs: 50 }, 5);
      const stream = await openStream(srv.port, LONG);
      const started = Date.now();
      await srv.server.close();
      assert.ok(Date.now() - started < 2000, 'close() did not wait for the generation to run out');
      const events = sseEvents(await stream.ended);
      assert.equal(events.at(-1), '[DONE]');
      const error = events.at(-2) as any;
      assert.equal(error.error.code, 'server_shutting_down');
      assert.equal(error.error.type, 'server_error');
      assert.deepEqual(srv.observed.finishReasons, ['abort']);
      await waitUntil(() => model.stats().kv.usedBlocks === 0, 5000, 'usedBlocks back to 0');
    });

    it('close() is idempotent and works on a server that never listened', async () => {
      const srv = await serve();
      await Promise.all([srv.server.close(), srv.server.close()]);
      const { createServer } = await import('../lib/server/index.js');
      await createServer(model).close();
    });
  });
});
