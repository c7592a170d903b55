// Helpers for the server tests: the fixture model, a server on 127.0.0.1, raw HTTP calls and SSE parsing.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { loadModel, type GenerationChunk } from '../../lib/index.js';
import type { GptNeoModel } from '../../lib/model/model.js';
import { createServer, type GptNeoServer, type ServedModel, type ServerOptions } from '../../lib/server/index.js';
import { fixture } from './paths.js';

/** The tiny random GPT-Neo with the GPT-2 tokenizer, on CPU. */
export function loadTinyModel(): Promise<GptNeoModel> {
  return loadModel(fixture('tiny-neo-gpt2vocab'), { device: 'cpu', threads: 2 });
}

export interface RunningServer {
  server: GptNeoServer;
  /** e.g. http://127.0.0.1:40123 */
  base: string;
  port: number;
}

export async function startServer(model: ServedModel, options: ServerOptions = {}): Promise<RunningServer> {
  const server = createServer(model, { modelId: 'tiny-neo', ...options });
  const address = await server.listen(0, '127.0.0.1');
  return { server, base: `http://127.0.0.1:${address.port}`, port: address.port };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

/** One HTTP request with node:http (any method, any body bytes, any headers). */
export function rawRequest(port: number, method: string, path: string,
  body?: string | Buffer, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** POST a JSON body. */
export function postJson(port: number, path: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return rawRequest(port, 'POST', path, JSON.stringify(body), { 'Content-Type': 'application/json', ...headers });
}

/** The `data:` payloads of a server-sent-event body, in order ('[DONE]' kept as a string). */
export function sseEvents(text: string): unknown[] {
  return text.split('\n\n').filter((e) => e.length > 0).map((event) => {
    if (!event.startsWith('data: ')) throw new Error(`not an SSE data event: ${JSON.stringify(event)}`);
    const data = event.slice('data: '.length);
    return data === '[DONE]' ? data : JSON.parse(data);
  });
}

/** Polls `predicate` every 10 ms until it holds; throws with `what` after timeoutMs. */
export async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A served model as the tests observe it: finish reasons recorded, streams being read counted. */
export type ObservedModel = ServedModel & { finishReasons: string[]; active: () => number };

/**
 * The model with its stream() observed: every request's final chunk (its finishReason) is
 * recorded, so a test can tell an aborted generation from one that ran out; active() counts the
 * streams begun and not yet ended. paceMs: chunks passed on no faster than one per paceMs (paced()).
 */
export function observedModel(model: GptNeoModel, paceMs?: number): ObservedModel {
  const finishReasons: string[] = [];
  let active = 0;
  return {
    finishReasons,
    active: () => active,
    config: model.config,
    tokenizer: model.tokenizer,
    contextSize: model.contextSize,
    stats: () => model.stats(),
    embed: (input, options) => model.embed(input, options),
    stream(prompt, options) {
      const inner = model.stream(prompt, options);
      const chunks = paceMs === undefined ? inner : paced(inner, paceMs, options?.signal);
      return (async function* () {
        active++;
        try {
          for await (const chunk of chunks) {
            if (chunk.finishReason) finishReasons.push(chunk.finishReason);
            yield chunk;
          }
        } finally {
          active--;
        }
      })();
    },
  };
}

/**
 * A model's stream passed on no faster than one chunk per `ms` milliseconds (the generation itself runs
 * ahead underneath), so that a request is still in flight after a test's short timeouts however fast the
 * machine generates. Once `signal` aborts, it ends as the model's own streams end on an abort: a final
 * chunk with no token, finishReason 'abort', and the usage of the tokens passed on so far.
 */
async function* paced(inner: AsyncIterable<GenerationChunk>, ms: number,
  signal: AbortSignal | undefined): AsyncGenerator<GenerationChunk> {
  const it = inner[Symbol.asyncIterator]();
  let passed = 0;
  for (;;) {
    const next = await it.next();
    if (next.done) return;
    let chunk = next.value;
    if (!chunk.finishReason) await new Promise((resolve) => setTimeout(resolve, ms));
    if (signal?.aborted && chunk.finishReason !== 'abort') {
      while (!chunk.finishReason) {  // the model's last chunk, for the prompt's usage
        const rest = await it.next();
        if (rest.done) break;
        chunk = rest.value;
      }
      const usage = chunk.usage!;
      yield { text: '', tokenId: -1, finishReason: 'abort',
        usage: { ...usage, completionTokens: passed, totalTokens: usage.promptTokens + passed } };
      return;
    }
    if (chunk.tokenId >= 0) passed++;
    yield chunk;
    if (chunk.finishReason) return;
  }
}
