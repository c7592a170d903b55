// The server's parts on their own: Prometheus text, admission queue, router, bearer auth, error
// mapping and /health while draining. No model and no sockets.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GptNeoError } from '../lib/errors.js';
import { Admission } from '../lib/server/admission.js';
import { createServer } from '../lib/server/app.js';
import type { ServedModel } from '../lib/server/options.js';
import { bearerAuth } from '../lib/server/auth.js';
import type { RequestContext } from '../lib/server/context.js';
import { toBase64 } from '../lib/server/embeddings.js';
import { HttpError, toHttpError } from '../lib/server/errors.js';
import { handleHealth } from '../lib/server/health.js';
import { Counter, Gauge, Histogram, Registry } from '../lib/server/prometheus.js';
import { Router } from '../lib/server/router.js';

describe('80 server parts: Prometheus text', () => {
  it('renders counters, gauges and histograms in the exposition format', () => {
    const r = new Registry();
    const c = r.register(new Counter('demo_requests_total', 'Requests\nby "route"'));
    c.inc({ route: '/a', status: '200' });
    c.inc({ status: '200', route: '/a' }, 2);  // label order does not make a new series
    c.inc({ route: 'say "hi"\\' });
    r.register(new Gauge('demo_depth', 'Queue depth', () => 3));
    const h = r.register(new Histogram('demo_seconds', 'Latency', [1, 0.1]));
    h.observe(0.05, { route: '/a' });
    h.observe(0.5, { route: '/a' });
    h.observe(7, { route: '/a' });
    assert.equal(r.render(), [
      '# HELP demo_requests_total Requests\\nby "route"',
      '# TYPE demo_requests_total counter',
      'demo_requests_total{route="/a",status="200"} 3',
      'demo_requests_total{route="say \\"hi\\"\\\\"} 1',
      '# HELP demo_depth Queue depth',
      '# TYPE demo_depth gauge',
      'demo_depth 3',
      '# HELP demo_seconds Latency',
      '# TYPE demo_seconds histogram',
      'demo_seconds_bucket{route="/a",le="0.1"} 1',
      'demo_seconds_bucket{route="/a",le="1"} 2',
      'demo_seconds_bucket{route="/a",le="+Inf"} 3',
      'demo_seconds_sum{route="/a"} 7.55',
      'demo_seconds_count{route="/a"} 3',
      '',
    ].join('\n'));
    assert.equal(c.get({ status: '200', route: '/a' }), 3);
    assert.throws(() => c.inc({}, -1), RangeError);
  });
});

describe('80 server parts: admission', () => {
  it('admits up to maxRunning, queues up to maxQueue in order, refuses the rest with 429', async () => {
    const a = new Admission(2, 1, 3);
    const signal = new AbortController().signal;
    const r1 = await a.acquire(signal);
    const r2 = await a.acquire(signal);
    const order: string[] = [];
    const third = a.acquire(signal).then((release) => { order.push('third'); return release; });
    assert.deepEqual([a.running, a.waiting], [2, 1]);
    await assert.rejects(a.acquire(signal), (e: unknown) => e instanceof HttpError && e.status === 429
      && e.headers['Retry-After'] === '3' && e.type === 'rate_limit_error');
    r1();
    r1();  // a second release is harmless
    const r3 = await third;
    assert.deepEqual(order, ['third']);
    assert.deepEqual([a.running, a.waiting], [2, 0]);
    r2();
    r3();
    assert.deepEqual([a.running, a.waiting], [0, 0]);
  });

  it('with maxQueue 0 refuses as soon as every slot is taken', async () => {
    const a = new Admission(1, 0);
    const release = await a.acquire(new AbortController().signal);
    await assert.rejects(a.acquire(new AbortController().signal), (e: unknown) => e instanceof HttpError && e.status === 429);
    release();
    (await a.acquire(new AbortController().signal))();
  });

  it('a waiter whose signal aborts leaves the queue with the abort reason', async () => {
    const a = new Admission(1, 2);
    const release = await a.acquire(new AbortController().signal);
    const leaving = new AbortController();
    const waiting = a.acquire(leaving.signal);
    const staying = a.acquire(new AbortController().signal);
    assert.equal(a.waiting, 2);
    const reason = new Error('client gone');
    leaving.abort(reason);
    await assert.rejects(waiting, (e: unknown) => e === reason);
    assert.equal(a.waiting, 1);
    release();
    (await staying)();
    assert.deepEqual([a.running, a.waiting], [0, 0]);
    const aborted = new AbortController();
    aborted.abort(reason);
    await assert.rejects(a.acquire(aborted.signal), (e: unknown) => e === reason);
  });
});

describe('80 server parts: router', () => {
  const router = new Router<string>()
    .add('POST', '/v1/completions', 'completions')
    .add('GET', '/v1/models', 'list')
    .add('GET', '/v1/models/*id', 'retrieve')
    .add('GET', '/items/:id/detail', 'detail');

  it('matches exact paths, :params and a final *rest parameter (slashes kept, percent-decoded)', () => {
    assert.equal(router.match('POST', '/v1/completions').handler, 'completions');
    assert.deepEqual(router.match('GET', '/v1/models/EleutherAI/gpt-neo-125m').params, { id: 'EleutherAI/gpt-neo-125m' });
    assert.deepEqual(router.match('GET', '/v1/models/EleutherAI%2Fgpt-neo-125m').params, { id: 'EleutherAI/gpt-neo-125m' });
    assert.equal(router.match('GET', '/v1/models').handler, 'list');
    assert.deepEqual(router.match('GET', '/items/7/detail'), { handler: 'detail', pattern: '/items/:id/detail', params: { id: '7' } });
    assert.equal(router.match('HEAD', '/v1/models').handler, 'list');
  });

  it('404 for unknown paths (including an empty or undecodable parameter), 405 with Allow for other methods', () => {
    for (const path of ['/', '/v1/completions/', '/v1/models/', '/items//detail', '/items/%E0%A4%A/detail', '/v1/completion']) {
      assert.throws(() => router.match('GET', path), (e: unknown) => e instanceof HttpError && e.status === 404, path);
    }
    assert.throws(() => router.match('GET', '/v1/completions'),
      (e: unknown) => e instanceof HttpError && e.status === 405 && e.headers.Allow === 'POST');
    assert.throws(() => router.match('POST', '/v1/models'),
      (e: unknown) => e instanceof HttpError && e.status === 405 && e.headers.Allow === 'GET');
  });
});

describe('80 server parts: auth, errors, base64', () => {
  const req = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

  it('bearerAuth accepts only the exact key after "Bearer"', () => {
    const check = bearerAuth('k1');
    check(req('Bearer k1'));
    check(req('bearer   k1'));
    for (const [header, code] of [[undefined, 'missing_api_key'], ['k1', 'missing_api_key'], ['Bearer ', 'missing_api_key'],
      ['Bearer k2', 'invalid_api_key'], ['Bearer k1x', 'invalid_api_key'], ['Bearer k', 'invalid_api_key']] as const) {
      assert.throws(() => check(req(header)),
        (e: unknown) => e instanceof HttpError && e.status === 401 && e.code === code, String(header));
    }
    bearerAuth(undefined)(req());  // no key configured: everything passes
  });

  it('maps library errors to statuses without leaking unknown failures', () => {
    const bad = toHttpError(new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', 'Expected x'), 'prompt');
    assert.deepEqual(bad.toBody(), { error: { message: 'Expected x', type: 'invalid_request_error', param: 'prompt', code: 'invalid_value' } });
    assert.equal(toHttpError(new GptNeoError('ERR_GPTNEO_CONTEXT_OVERFLOW', 'too long')).code, 'context_length_exceeded');
    assert.equal(toHttpError(new GptNeoError('ERR_GPTNEO_DISPOSED', 'gone')).status, 503);
    const internal = toHttpError(new TypeError('secret detail'));
    assert.deepEqual(internal.toBody(), { error: { message: 'Internal server error', type: 'server_error', param: null, code: 'internal_error' } });
  });

  it('toBase64 writes little-endian float32 bytes', () => {
    const v = new Float32Array([1, -2.5, 1e-8]);
    const bytes = Buffer.from(toBase64(v), 'base64');
    assert.deepEqual([bytes.readFloatLE(0), bytes.readFloatLE(4), bytes.readFloatLE(8)], Array.from(v));
    assert.equal(toBase64(new Float32Array([1])), 'AACAPw==');
  });
});

describe('80 server parts: /health', () => {
  function call(draining: boolean): { status?: number; headers?: Record<string, string>; body?: string } {
    const seen: { status?: number; headers?: Record<string, string>; body?: string } = {};
    const res = {
      destroyed: false, writableEnded: false, headersSent: false,
      writeHead(status: number, headers: Record<string, string>) { seen.status = status; seen.headers = headers; return this; },
      end(body: Buffer) { seen.body = body.toString(); },
    } as unknown as ServerResponse;
    void handleHealth({ res, state: { draining } } as unknown as RequestContext);
    return seen;
  }

  it('answers 200 ok while serving and 503 draining (closing the connection) during shutdown', () => {
    assert.deepEqual([call(false).status, call(false).body], [200, '{"status":"ok"}']);
    const draining = call(true);
    assert.deepEqual([draining.status, draining.body, draining.headers!.Connection], [503, '{"status":"draining"}', 'close']);
  });
});

describe('80 server parts: options', () => {
  const model = {} as ServedModel;
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxConcurrent: 0 }, /Expected positive integer for maxConcurrent but received 0/],
    [{ maxQueue: -1 }, /Expected non-negative integer for maxQueue but received -1/],
    [{ maxBodyBytes: 1.5 }, /Expected positive integer for maxBodyBytes/],
    [{ drainTimeoutMs: -5 }, /drainTimeoutMs/],
    [{ apiKey: '' }, /Expected non-empty string for apiKey but received ""/],
    [{ modelId: '' }, /Expected non-empty string for modelId/],
    [{ embeddingPooling: 'max' }, /Expected one of 'mean', 'last', 'first' for embeddingPooling/],
    [{ onError: 'log' }, /Expected function for onError/],
    [{ maxQeue: 3 }, /Unknown option options.maxQeue/],
  ];
  for (const [options, message] of cases) {
    it(`createServer rejects ${JSON.stringify(options)} with ERR_GPTNEO_INVALID_ARGUMENT`, () => {
      assert.throws(() => createServer(model, options as never),
        (e: unknown) => e instanceof GptNeoError && e.code === 'ERR_GPTNEO_INVALID_ARGUMENT' && message.test(e.message));
    });
  }
});
