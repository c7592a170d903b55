/**
 * POST /v1/completions: every prompt of a request runs as its own engine request (so they batch
 * with each other and with other clients), answered whole or streamed as server-sent events in
 * OpenAI's text_completion chunk shape. A client that goes away aborts its generations, which
 * frees their KV blocks at the next engine step.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { GenerateOptions } from '../model/model.js';
import type { GenerationChunk, Usage } from '../engine/types.js';
import { readJsonObject } from './body.js';
import { parseCompletionRequest, type CompletionRequest } from './completion-request.js';
import type { RequestContext } from './context.js';
import { isUnexpected, toHttpError } from './errors.js';
import { sendJson } from './respond.js';
import { SseStream } from './sse.js';

interface Choice {
  text: string;
  index: number;
  logprobs: null;
  finish_reason: 'stop' | 'length' | null;
}

interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** The identity shared by a response and all its stream chunks. */
interface CompletionIdentity {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
}

export async function handleCompletions(ctx: RequestContext): Promise<void> {
  const { state } = ctx;
  const body = await readJsonObject(ctx.req, state.options.maxBodyBytes);
  const request = parseCompletionRequest(body, state.model, state.options.modelId);
  const release = await state.admission.acquire(ctx.signal);
  try {
    const identity: CompletionIdentity = {
      id: `cmpl-${randomBytes(12).toString('hex')}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: state.options.modelId,
    };
    if (request.stream) await streamCompletion(ctx, request, identity);
    else await completeWhole(ctx, request, identity);
  } finally {
    release();
  }
}

async function completeWhole(ctx: RequestContext, request: CompletionRequest, identity: CompletionIdentity): Promise<void> {
  const results = await runPrompts(ctx, request, () => {});
  throwIfAborted(ctx);
  sendJson(ctx.res, 200, {
    ...identity,
    choices: results.map((r, index): Choice => ({ text: r.text, index, logprobs: null, finish_reason: finishReason(r.last) })),
    usage: toOpenAiUsage(results.map((r) => r.last.usage!)),
  });
}

async function streamCompletion(ctx: RequestContext, request: CompletionRequest, identity: CompletionIdentity): Promise<void> {
  const sse = new SseStream(ctx.res);
  sse.open();
  try {
    const results = await runPrompts(ctx, request, (index, chunk) => {
      if (chunk.text === '' && !chunk.finishReason) return;
      const choice: Choice = { text: chunk.text, index, logprobs: null, finish_reason: finishReason(chunk) };
      sse.send({ ...identity, choices: [choice], ...(request.includeUsage ? { usage: null } : {}) });
    });
    throwIfAborted(ctx);
    if (request.includeUsage) sse.send({ ...identity, choices: [], usage: toOpenAiUsage(results.map((r) => r.last.usage!)) });
  } catch (e) {
    // The 200 is already out: report the failure in-band, as OpenAI does, then end the stream.
    const error = toHttpError(e);
    if (isUnexpected(e)) ctx.state.options.onError(e);
    sse.send(error.toBody());
  }
  sse.done();
}

/**
 * A request aborted by a drain that timed out ends with its reason (a 503); one whose client went
 * away ends the same way, but nobody is left to read it.
 */
function throwIfAborted(ctx: RequestContext): void {
  if (ctx.signal.aborted) throw toHttpError(ctx.signal.reason);
}

interface PromptResult {
  text: string;
  /** The final chunk (finishReason and usage set). */
  last: GenerationChunk;
}

/**
 * Runs every prompt concurrently, calling onChunk as tokens arrive. Stops them all if one fails or
 * the client goes away; records time to first token and token counts.
 */
async function runPrompts(ctx: RequestContext, request: CompletionRequest,
  onChunk: (index: number, chunk: GenerationChunk) => void): Promise<PromptResult[]> {
  const { metrics, model } = ctx.state;
  const local = new AbortController();
  const signal = AbortSignal.any([ctx.signal, local.signal]);
  const options: GenerateOptions = { ...request.options, signal };
  let firstToken = true;
  const runOne = async (ids: number[], index: number): Promise<PromptResult> => {
    let text = '';
    for await (const chunk of model.stream(ids, options)) {
      if (firstToken && chunk.finishReason !== 'abort') {
        firstToken = false;
        metrics.timeToFirstToken.observe((performance.now() - ctx.startedAt) / 1000);
      }
      text += chunk.text;
      if (chunk.finishReason) {
        metrics.promptTokens.inc({}, chunk.usage!.promptTokens);
        metrics.generatedTokens.inc({}, chunk.usage!.completionTokens);
        if (chunk.finishReason !== 'abort') onChunk(index, chunk);
        return { text, last: chunk };
      }
      onChunk(index, chunk);
    }
    throw new Error('generation ended without a final chunk');
  };
  try {
    return await Promise.all(request.prompts.map((ids, i) => runOne(ids, i).catch((e: unknown) => {
      local.abort(e);
      throw e;
    })));
  } finally {
    // Also reached on success, where aborting finished requests does nothing.
    local.abort();
  }
}

function finishReason(chunk: GenerationChunk): 'stop' | 'length' | null {
  return chunk.finishReason === 'stop' || chunk.finishReason === 'length' ? chunk.finishReason : null;
}

function toOpenAiUsage(usages: Usage[]): OpenAiUsage {
  const prompt = usages.reduce((n, u) => n + u.promptTokens, 0);
  const completion = usages.reduce((n, u) => n + u.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
